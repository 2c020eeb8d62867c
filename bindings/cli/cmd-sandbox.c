/* cmd-sandbox.c: oc create, ls, info, kill. */
#include <stdio.h>

#include "cli.h"

int cmd_create(Cli *cli, int argc, char **argv)
{
    oc_sandbox_options opts = OC_SANDBOX_OPTIONS_INIT;
    g_auto(GStrv) envs = NULL, meta = NULL;
    g_autofree char *tmpl = NULL;
    CliNetwork net = { 0 };
    gint64 timeout = OC_TIMEOUT_DEFAULT;
    int cpus = OC_DEFAULT_CPU_COUNT, memory = OC_DEFAULT_MEMORY_MB;
    GOptionEntry entries[] = {
        { "template", 't', 0, G_OPTION_ARG_STRING, &tmpl, "Template (default: base)", "NAME" },
        { "timeout", 0, 0, G_OPTION_ARG_INT64, &timeout, "Idle timeout in seconds, 0: never (default 300)", "S" },
        { "cpus", 0, 0, G_OPTION_ARG_INT, &cpus, "CPU cores, 1-4 (default 1)", "N" },
        { "memory", 0, 0, G_OPTION_ARG_INT, &memory, "Memory in MB, 128-2048 (default 512)", "MB" },
        { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &envs, "Environment variable for every exec", "K=V" },
        { "meta", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &meta, "Metadata stored with the sandbox", "K=V" },
        CLI_NETWORK_ENTRIES(net),
        CLI_JSON_ENTRY(cli),
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("- create a sandbox");
    oc_sandbox *sb = NULL;
    oc_sandbox_info *info = NULL;
    oc_error *err = NULL;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc > 1)
        return cli_usage(oc, "unexpected argument '%s'", argv[1]);
    if (cpus < 0 || memory < 0)
        return cli_usage(oc, "--cpus and --memory take positive numbers");
    opts.template_name = tmpl;
    opts.timeout_s = timeout;
    opts.cpu_count = (uint32_t)cpus;
    opts.memory_mb = (uint32_t)memory;
    opts.envs = (const char *const *)envs;
    opts.metadata = (const char *const *)meta;
    opts.network = cli_network_policy(&net);
    rc = oc_sandbox_create(&sb, cli->ctx, &opts, &err);
    cli_network_clear(&net);
    if (rc < 0)
        return cli_fail(err);
    if (cli->json) {
        if (oc_sandbox_info_get(&info, sb, &err) < 0) {
            oc_sandbox_unref(sb);
            return cli_fail(err);
        }
        cli_print_json(cli_info_json(info));
        oc_sandbox_info_free(info);
    } else {
        printf("%s\n", oc_sandbox_id(sb));
    }
    oc_sandbox_unref(sb);
    return 0;
}

int cmd_ls(Cli *cli, int argc, char **argv)
{
    g_auto(GStrv) meta = NULL;
    GOptionEntry entries[] = {
        { "meta", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &meta, "Only sandboxes with this metadata", "K=V" },
        CLI_JSON_ENTRY(cli),
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("- list sandboxes");
    oc_sandbox_list *list = NULL;
    oc_error *err = NULL;
    size_t n;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc > 1)
        return cli_usage(oc, "unexpected argument '%s'", argv[1]);
    if (oc_sandbox_list_get(&list, cli->ctx, (const char *const *)meta, 0, &err) < 0)
        return cli_fail(err);
    n = oc_sandbox_list_count(list);
    if (cli->json) {
        JsonArray *a = json_array_new();
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);
        for (size_t i = 0; i < n; i++)
            json_array_add_element(a, cli_info_json(oc_sandbox_list_at(list, i)));
        json_node_take_array(node, a);
        cli_print_json(node);
    } else {
        cli_table_header();
        for (size_t i = 0; i < n; i++)
            cli_table_row(oc_sandbox_list_at(list, i));
    }
    oc_sandbox_list_free(list);
    return 0;
}

int cmd_info(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new("ID - show a sandbox");
    oc_sandbox *sb;
    oc_sandbox_info *info = NULL;
    oc_error *err = NULL;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_one_id(cli, oc, argc, argv, &rc);
    if (!sb)
        return rc;
    rc = oc_sandbox_info_get(&info, sb, &err);
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    if (cli->json) {
        cli_print_json(cli_info_json(info));
    } else {
        cli_table_header();
        cli_table_row(info);
        printf("accelerator: %s\n", oc_sandbox_info_accelerator(info));
        printf("origin: %s\n", oc_sandbox_info_origin(info));
        if (oc_sandbox_info_checkpoint(info))
            printf("checkpoint: %s\n", oc_sandbox_info_checkpoint(info));
        if (oc_sandbox_info_reason(info))
            printf("reason: %s\n", oc_sandbox_info_reason(info));
    }
    oc_sandbox_info_free(info);
    return 0;
}

static int kill_one(Cli *cli, oc_sandbox *sb, gpointer data)
{
    oc_error *err = NULL;

    if (oc_sandbox_kill(sb, 0, &err) < 0)
        return cli_fail(err);
    if (!cli->json)
        printf("killed %s\n", oc_sandbox_id(sb));
    return 0;
}

int cmd_kill(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new("ID... - stop and delete sandboxes");

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 2)
        return cli_usage(oc, "expected at least one sandbox id");
    return cli_for_each_id(cli, argc, argv, kill_one, NULL);
}
