/* cmd-import.c: oc template import NAME ROOTFS.tar (a template of a root
 * filesystem tarball) and oc template prune [--keep-days N] (the layer
 * cache of builds). */
#include <stdio.h>

#include "cli.h"

int cmd_template_import(Cli *cli, int argc, char **argv)
{
    gboolean no_prepare = FALSE;
    GOptionEntry entries[] = {
        { "no-prepare", 0, 0, G_OPTION_ARG_NONE, &no_prepare,
          "Do not boot it for its ready snapshot now (the first create does)", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "NAME ROOTFS.tar - make template NAME of a root filesystem tarball (plain, gzip or "
        "xz): any Linux userland with /bin/sh or /usr/bin/sh, such as Alpine's minirootfs");
    oc_template_import_options opts = OC_TEMPLATE_IMPORT_OPTIONS_INIT;
    oc_error *err = NULL;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc != 3)
        return cli_usage(oc, "expected a template name and a tarball");
    opts.prepare = !no_prepare;
    opts.log = cli_log_line;
    if (opts.prepare)
        cli_warn_if_tcg(cli);
    if (oc_template_import(cli->ctx, argv[1], argv[2], &opts, &err) < 0)
        return cli_fail(err);
    return 0;
}

int cmd_template_prune(Cli *cli, int argc, char **argv)
{
    int keep_days = OC_TEMPLATE_PRUNE_DEFAULT_KEEP_DAYS;
    GOptionEntry entries[] = {
        CLI_JSON_ENTRY(cli),
        { "keep-days", 0, 0, G_OPTION_ARG_INT, &keep_days,
          "Keep layers made in the last N days (default 7; 0: keep none for its age)", "N" },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "- remove the build layers no template was made from, no disk builds on and no "
        "recent build made");
    oc_template_prune_options opts = OC_TEMPLATE_PRUNE_OPTIONS_INIT;
    uint32_t removed = 0, kept = 0;
    uint64_t bytes = 0;
    oc_error *err = NULL;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc != 1)
        return cli_usage(oc, "oc template prune takes no arguments");
    if (keep_days < 0)
        return cli_usage(oc, "--keep-days must be 0 or more");
    opts.keep_days = (uint32_t)keep_days;
    if (oc_template_prune(cli->ctx, &opts, &removed, &bytes, &kept, &err) < 0)
        return cli_fail(err);
    if (cli->json) {
        JsonObject *o = json_object_new();
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);
        json_object_set_int_member(o, "removed", removed);
        json_object_set_int_member(o, "bytesFreed", (gint64)bytes);
        json_object_set_int_member(o, "kept", kept);
        json_node_take_object(node, o);
        cli_print_json(node);
    } else {
        printf("removed %u layer(s), %.1f MiB freed; %u kept\n", removed, bytes / 1048576.0,
               kept);
    }
    return 0;
}
