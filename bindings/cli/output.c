/* output.c: errors, tables and JSON for the `oc` command line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_fail(oc_error *err)
{
    fprintf(stderr, "oc: %s\n", oc_error_message(err));
    oc_error_free(err);
    return CLI_EXIT_FAILURE;
}

int cli_usage(GOptionContext *oc, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *help = g_option_context_get_help(oc, TRUE, NULL);

    fputs("oc: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", help);
    return CLI_EXIT_USAGE;
}

gboolean cli_parse(GOptionContext *oc, int *argc, char ***argv)
{
    GError *gerr = NULL;

    if (!g_option_context_parse(oc, argc, argv, &gerr)) {
        cli_usage(oc, "%s", gerr->message);
        g_error_free(gerr);
        return FALSE;
    }
    return TRUE;
}

oc_sandbox *cli_connect(Cli *cli, const char *id)
{
    oc_sandbox *sb = NULL;
    oc_error *err = NULL;

    if (oc_sandbox_connect(&sb, cli->ctx, id, &err) < 0) {
        cli_fail(err);
        return NULL;
    }
    return sb;
}

int cli_for_each_id(Cli *cli, int argc, char **argv, CliPerSandbox fn, gpointer data)
{
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        oc_sandbox *sb = cli_connect(cli, argv[i]);
        int r = sb ? fn(cli, sb, data) : CLI_EXIT_FAILURE;
        if (r)
            rc = r;
        oc_sandbox_unref(sb);
    }
    return rc;
}

oc_sandbox *cli_parse_one_id(Cli *cli, GOptionContext *oc, int argc, char **argv, int *rc)
{
    oc_sandbox *sb;

    *rc = CLI_EXIT_USAGE;
    if (!cli_parse(oc, &argc, &argv))
        return NULL;
    if (argc != 2) {
        cli_usage(oc, "expected one sandbox id");
        return NULL;
    }
    sb = cli_connect(cli, argv[1]);
    *rc = sb ? 0 : CLI_EXIT_FAILURE;
    return sb;
}

oc_sandbox *cli_parse_id_arg(Cli *cli, GOptionContext *oc, int argc, char **argv,
                             const char *what, const char **arg, int *rc)
{
    oc_sandbox *sb;

    *rc = CLI_EXIT_USAGE;
    if (!cli_parse(oc, &argc, &argv))
        return NULL;
    if (argc != 3) {
        cli_usage(oc, "expected a sandbox id and %s", what);
        return NULL;
    }
    *arg = argv[2];
    sb = cli_connect(cli, argv[1]);
    *rc = sb ? 0 : CLI_EXIT_FAILURE;
    return sb;
}

oc_sandbox *cli_parse_id_session(Cli *cli, GOptionContext *oc, int argc, char **argv,
                                 uint32_t *session, int *rc)
{
    guint64 v;
    oc_sandbox *sb;

    *rc = CLI_EXIT_USAGE;
    if (!cli_parse(oc, &argc, &argv))
        return NULL;
    if (argc != 3) {
        cli_usage(oc, "expected a sandbox id and a session id");
        return NULL;
    }
    if (!g_ascii_string_to_unsigned(argv[2], 10, 1, G_MAXUINT32, &v, NULL)) {
        cli_usage(oc, "'%s' is not a session id (a number from `oc exec list`)", argv[2]);
        return NULL;
    }
    *session = (uint32_t)v;
    sb = cli_connect(cli, argv[1]);
    *rc = sb ? 0 : CLI_EXIT_FAILURE;
    return sb;
}

int cli_dispatch(Cli *cli, const char *group, const CliVerb *verbs, size_t n, int argc,
                 char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : NULL;
    gboolean help = sub && (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0);
    FILE *f = help ? stdout : stderr;

    for (size_t i = 0; sub && i < n; i++) {
        if (strcmp(sub, verbs[i].name) == 0) {
            g_autofree char *prgname = g_strdup_printf("oc %s %s", group, sub);
            g_set_prgname(prgname);
            return verbs[i].fn(cli, argc - 1, argv + 1);
        }
    }
    if (!sub)
        fprintf(f, "oc: expected a %s verb\n\n", group);
    else if (!help)
        fprintf(f, "oc: unknown %s verb '%s'\n\n", group, sub);
    fprintf(f, "usage: oc %s VERB [OPTIONS] [ARGS]\n\nverbs:\n", group);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
    fprintf(f, "\n`oc %s VERB --help` tells more.\n", group);
    return help ? 0 : CLI_EXIT_USAGE;
}

int cli_print_state(Cli *cli, oc_sandbox *sb, const char *said, const char *wake)
{
    oc_sandbox_info *info = NULL;
    oc_error *err = NULL;

    if (!cli->json) {
        printf("%s %s\n", oc_sandbox_id(sb), said);
        return 0;
    }
    if (oc_sandbox_info_get(&info, sb, &err) < 0)
        return cli_fail(err);
    JsonNode *node = cli_info_json(info);
    if (wake)
        json_object_set_string_member(json_node_get_object(node), "wake", wake);
    cli_print_json(node);
    oc_sandbox_info_free(info);
    return 0;
}

void cli_warn_if_tcg(Cli *cli)
{
    if (g_strcmp0(oc_context_accelerator(cli->ctx), "tcg") == 0)
        fprintf(stderr, "oc: warning: no KVM on this host; sandboxes run under TCG emulation, "
                        "which is slow and not a security boundary\n");
}

gboolean cli_quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

void cli_print_json(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;

    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
    json_node_unref(node);
}

static JsonNode *pairs_json(size_t n, const oc_sandbox_info *info,
                            const char *(*at)(const oc_sandbox_info *, size_t, const char **))
{
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    for (size_t i = 0; i < n; i++) {
        const char *v = NULL, *k = at(info, i, &v);
        json_object_set_string_member(o, k, v);
    }
    json_node_take_object(node, o);
    return node;
}

char *cli_iso_time(int64_t t)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
    return dt ? g_date_time_format_iso8601(dt) : g_strdup("?");
}

JsonNode *cli_info_json(const oc_sandbox_info *info)
{
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *created = cli_iso_time(oc_sandbox_info_created(info));

    /* Field names follow the OpenComputer SDK. */
    json_object_set_string_member(o, "sandboxId", oc_sandbox_info_id(info));
    json_object_set_string_member(o, "status", oc_sandbox_state_name(oc_sandbox_info_state(info)));
    json_object_set_string_member(o, "template", oc_sandbox_info_template(info));
    json_object_set_string_member(o, "createdAt", created);
    json_object_set_int_member(o, "cpuCount", oc_sandbox_info_cpu_count(info));
    json_object_set_int_member(o, "memoryMB", oc_sandbox_info_memory_mb(info));
    json_object_set_int_member(o, "timeout", oc_sandbox_info_timeout(info));
    if (oc_sandbox_info_idle_deadline(info)) {
        g_autofree char *deadline = cli_iso_time(oc_sandbox_info_idle_deadline(info));
        json_object_set_string_member(o, "endAt", deadline);
    }
    if (oc_sandbox_info_last_wake(info))
        json_object_set_string_member(o, "lastWake",
                                      oc_wake_kind_name(oc_sandbox_info_last_wake(info)));
    json_object_set_string_member(o, "accelerator", oc_sandbox_info_accelerator(info));
    json_object_set_string_member(o, "origin", oc_sandbox_info_origin(info));
    if (oc_sandbox_info_checkpoint(info))
        json_object_set_string_member(o, "checkpoint", oc_sandbox_info_checkpoint(info));
    else
        json_object_set_null_member(o, "checkpoint");
    if (oc_sandbox_info_reason(info))
        json_object_set_string_member(o, "reason", oc_sandbox_info_reason(info));
    else
        json_object_set_null_member(o, "reason");
    json_object_set_member(o, "metadata", pairs_json(oc_sandbox_info_metadata_count(info), info,
                                                     oc_sandbox_info_metadata_at));
    json_object_set_member(o, "envs", pairs_json(oc_sandbox_info_env_count(info), info,
                                                 oc_sandbox_info_env_at));
    json_object_set_member(o, "network", cli_network_json(info));
    json_node_take_object(node, o);
    return node;
}

void cli_table_header(void)
{
    printf("%-16s %-11s %-10s %-20s %4s %7s %7s %s\n", "ID", "STATUS", "TEMPLATE", "CREATED",
           "CPUS", "MEMORY", "TIMEOUT", "METADATA");
}

void cli_table_row(const oc_sandbox_info *info)
{
    g_autofree char *created = cli_iso_time(oc_sandbox_info_created(info));
    GString *meta = g_string_new(NULL);

    for (size_t i = 0; i < oc_sandbox_info_metadata_count(info); i++) {
        const char *v = NULL, *k = oc_sandbox_info_metadata_at(info, i, &v);
        g_string_append_printf(meta, "%s%s=%s", i ? "," : "", k, v);
    }
    printf("%-16s %-11s %-10s %-20s %4u %6uM %6us %s\n", oc_sandbox_info_id(info),
           oc_sandbox_state_name(oc_sandbox_info_state(info)), oc_sandbox_info_template(info),
           created, oc_sandbox_info_cpu_count(info), oc_sandbox_info_memory_mb(info),
           oc_sandbox_info_timeout(info), meta->str);
    g_string_free(meta, TRUE);
}

void cli_log_line(const char *line, void *user_data)
{
    (void)user_data;
    /* output lines come while a step runs: show them now, not at exit */
    printf("%s\n", line);
    fflush(stdout);
}
