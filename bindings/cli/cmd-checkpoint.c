/* cmd-checkpoint.c: oc checkpoint create|list|restore|delete|spawn. */
#include <stdio.h>

#include "cli.h"

static JsonNode *checkpoint_json(const oc_checkpoint *cp)
{
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *created = cli_iso_time(oc_checkpoint_created_at(cp));

    json_object_set_string_member(o, "id", oc_checkpoint_id(cp));
    json_object_set_string_member(o, "name", oc_checkpoint_name(cp));
    json_object_set_string_member(o, "sandboxId", oc_checkpoint_sandbox_id(cp));
    json_object_set_string_member(o, "template", oc_checkpoint_template(cp));
    json_object_set_string_member(o, "createdAt", created);
    json_object_set_int_member(o, "sizeBytes", (gint64)oc_checkpoint_size_bytes(cp));
    json_object_set_int_member(o, "cpuCount", oc_checkpoint_cpu_count(cp));
    json_object_set_int_member(o, "memoryMB", oc_checkpoint_memory_mb(cp));
    json_node_take_object(node, o);
    return node;
}

static int checkpoint_create(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID NAME - checkpoint a sandbox (it goes on running); prints the checkpoint's id");
    oc_checkpoint *cp = NULL;
    oc_error *err = NULL;
    const char *name = NULL;
    oc_sandbox *sb;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_id_arg(cli, oc, argc, argv, "a checkpoint name", &name, &rc);
    if (!sb)
        return rc;
    rc = oc_checkpoint_create(&cp, sb, name, 0, &err);
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    if (cli->json)
        cli_print_json(checkpoint_json(cp));
    else
        printf("%s\n", oc_checkpoint_id(cp));
    oc_checkpoint_free(cp);
    return 0;
}

static int checkpoint_list(Cli *cli, int argc, char **argv)
{
    g_autofree char *sandbox = NULL;
    GOptionEntry entries[] = {
        { "sandbox", 's', 0, G_OPTION_ARG_STRING, &sandbox, "Only checkpoints of this sandbox", "ID" },
        CLI_JSON_ENTRY(cli),
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("- list checkpoints, oldest first");
    oc_checkpoint_list *list = NULL;
    oc_error *err = NULL;
    JsonArray *a;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc > 1)
        return cli_usage(oc, "unexpected argument '%s'", argv[1]);
    if (oc_checkpoint_list_get(&list, cli->ctx, sandbox, 0, &err) < 0)
        return cli_fail(err);
    a = cli->json ? json_array_new() : NULL;
    if (!a)
        printf("%-16s %-20s %-16s %-20s %8s\n", "ID", "NAME", "SANDBOX", "CREATED", "SIZE");
    for (size_t i = 0; i < oc_checkpoint_list_count(list); i++) {
        const oc_checkpoint *cp = oc_checkpoint_list_at(list, i);
        g_autofree char *created = cli_iso_time(oc_checkpoint_created_at(cp));
        if (a)
            json_array_add_element(a, checkpoint_json(cp));
        else /* MB, rounded up: a checkpoint is never "0M" */
            printf("%-16s %-20s %-16s %-20s %7" G_GUINT64_FORMAT "M\n", oc_checkpoint_id(cp),
                   oc_checkpoint_name(cp), oc_checkpoint_sandbox_id(cp), created,
                   (oc_checkpoint_size_bytes(cp) + (1 << 20) - 1) >> 20);
    }
    if (a) {
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);
        json_node_take_array(node, a);
        cli_print_json(node);
    }
    oc_checkpoint_list_free(list);
    return 0;
}

static int checkpoint_restore(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID CHECKPOINT - revert a sandbox in place to a checkpoint: memory, processes and disk");
    g_autofree char *said = NULL;
    oc_error *err = NULL;
    const char *cp = NULL;
    oc_sandbox *sb;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_id_arg(cli, oc, argc, argv, "a checkpoint id", &cp, &rc);
    if (!sb)
        return rc;
    rc = oc_sandbox_restore_checkpoint(sb, cp, 0, &err);
    said = g_strdup_printf("restored to %s", cp);
    rc = rc < 0 ? cli_fail(err) : cli_print_state(cli, sb, said, NULL);
    oc_sandbox_unref(sb);
    return rc;
}

static int checkpoint_delete(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new("CHECKPOINT... - delete checkpoints");
    oc_error *err = NULL;
    int rc = 0;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 2)
        return cli_usage(oc, "expected at least one checkpoint id");
    for (int i = 1; i < argc; i++) {
        if (oc_checkpoint_delete(cli->ctx, argv[i], 0, &err) < 0)
            rc = cli_fail(err);
        else if (!cli->json)
            printf("deleted %s\n", argv[i]);
    }
    return rc;
}

/* Prints the new sandboxes: their ids, or with --json their info. */
static int print_spawned(Cli *cli, oc_sandbox **sbs, size_t n)
{
    JsonArray *a = cli->json ? json_array_new() : NULL;
    oc_error *err = NULL;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        oc_sandbox_info *info = NULL;
        if (!a) {
            printf("%s\n", oc_sandbox_id(sbs[i]));
        } else if (oc_sandbox_info_get(&info, sbs[i], &err) < 0) {
            rc = cli_fail(err);
            err = NULL;
        } else {
            json_array_add_element(a, cli_info_json(info));
            oc_sandbox_info_free(info);
        }
    }
    if (a) {
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);
        json_node_take_array(node, a);
        cli_print_json(node);
    }
    return rc;
}

static int checkpoint_spawn(Cli *cli, int argc, char **argv)
{
    oc_fork_options opts = OC_FORK_OPTIONS_INIT;
    g_auto(GStrv) envs = NULL, meta = NULL;
    gint64 timeout = OC_TIMEOUT_DEFAULT;
    int count = 1, rc;
    GOptionEntry entries[] = {
        { "count", 'n', 0, G_OPTION_ARG_INT, &count, "How many sandboxes, 1-64 (default 1)", "N" },
        { "timeout", 0, 0, G_OPTION_ARG_INT64, &timeout, "Idle timeout in seconds, 0: never (default 300)", "S" },
        { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &envs, "Environment variable for every exec", "K=V" },
        { "metadata", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &meta, "Metadata stored with each sandbox", "K=V" },
        CLI_JSON_ENTRY(cli),
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "CHECKPOINT - create sandboxes that resume from a checkpoint; prints their ids");
    oc_sandbox *one = NULL, **sbs = NULL;
    oc_error *err = NULL;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc != 2)
        return cli_usage(oc, "expected one checkpoint id");
    if (count < 1 || count > OC_MAX_FORK_COUNT)
        return cli_usage(oc, "--count takes 1 to %d", OC_MAX_FORK_COUNT);
    if (timeout < 0 && timeout != OC_TIMEOUT_DEFAULT)
        return cli_usage(oc, "--timeout takes seconds >= 0");
    opts.timeout_s = timeout;
    opts.envs = (const char *const *)envs;
    opts.metadata = (const char *const *)meta;
    opts.count = (uint32_t)count;
    if (count == 1) {
        if (oc_sandbox_create_from_checkpoint(&one, cli->ctx, argv[1], &opts, &err) < 0)
            return cli_fail(err);
        rc = print_spawned(cli, &one, 1);
        oc_sandbox_unref(one);
        return rc;
    }
    if (oc_sandbox_fork(&sbs, cli->ctx, argv[1], &opts, &err) < 0)
        return cli_fail(err);
    rc = print_spawned(cli, sbs, (size_t)count);
    for (int i = 0; i < count; i++)
        oc_sandbox_unref(sbs[i]);
    oc_free(sbs);
    return rc;
}

int cmd_checkpoint(Cli *cli, int argc, char **argv)
{
    static const CliVerb verbs[] = {
        { "create", checkpoint_create, "checkpoint a sandbox: oc checkpoint create ID NAME" },
        { "list", checkpoint_list, "list checkpoints: oc checkpoint list [--sandbox ID]" },
        { "restore", checkpoint_restore, "revert a sandbox to a checkpoint: oc checkpoint restore ID CP" },
        { "delete", checkpoint_delete, "delete checkpoints: oc checkpoint delete CP..." },
        { "spawn", checkpoint_spawn, "new sandboxes from a checkpoint: oc checkpoint spawn CP [--count N]" },
    };

    return cli_dispatch(cli, "checkpoint", verbs, G_N_ELEMENTS(verbs), argc, argv);
}
