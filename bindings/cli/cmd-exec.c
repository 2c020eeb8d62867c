/* cmd-exec.c: oc exec ID [OPTIONS] -- CMD [ARGS...] (and the dispatch of oc
 * exec list|kill|attach)
 *
 * One word after -- runs under /bin/sh -c (so `oc exec ID -- 'ls | wc'`
 * works); several run as argv, without a shell.  The command's exit code is
 * oc's exit code; a timeout gives 124 as timeout(1) does. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static gboolean read_all(int fd, GByteArray *buf)
{
    guint8 tmp[65536];
    ssize_t n;

    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        g_byte_array_append(buf, tmp, n);
    return n == 0;
}

static void write_all(FILE *f, const char *data, size_t len)
{
    fwrite(data, 1, len, f);
    fflush(f);
}

static JsonNode *result_json(const oc_exec_result *r)
{
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    size_t olen, elen;
    const char *out = oc_exec_result_stdout(r, &olen), *err = oc_exec_result_stderr(r, &elen);
    g_autofree char *out_s = g_utf8_make_valid(out, olen), *err_s = g_utf8_make_valid(err, elen);

    json_object_set_int_member(o, "exitCode", oc_exec_result_exit_code(r));
    json_object_set_string_member(o, "stdout", out_s);
    json_object_set_string_member(o, "stderr", err_s);
    json_object_set_boolean_member(o, "timedOut", oc_exec_result_timed_out(r));
    json_object_set_int_member(o, "signal", oc_exec_result_signal(r));
    json_object_set_boolean_member(o, "stdoutTruncated", oc_exec_result_stdout_truncated(r));
    json_object_set_boolean_member(o, "stderrTruncated", oc_exec_result_stderr_truncated(r));
    json_object_set_int_member(o, "durationMs", (gint64)(oc_exec_result_duration_us(r) / 1000));
    json_node_take_object(node, o);
    return node;
}

/* oc exec --detach: start a session, print its id. */
static int exec_detached(Cli *cli, const char *id, const char *command, oc_exec_options *opts)
{
    oc_sandbox *sb = cli_connect(cli, id);
    oc_error *err = NULL;
    uint32_t session = 0;
    int rc;

    if (!sb)
        return CLI_EXIT_FAILURE;
    if (opts->timeout_ms == OC_TIMEOUT_DEFAULT)
        opts->timeout_ms = 0; /* a session runs until it ends, unless told */
    rc = oc_exec_start(&session, sb, command, opts, &err);
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    if (cli->json) {
        JsonObject *o = json_object_new();
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);
        json_object_set_int_member(o, "sessionId", session);
        json_node_take_object(node, o);
        cli_print_json(node);
    } else {
        printf("%u\n", session);
    }
    return 0;
}

int cmd_exec(Cli *cli, int argc, char **argv)
{
    oc_exec_options opts = OC_EXEC_OPTIONS_INIT;
    g_auto(GStrv) envs = NULL;
    g_autofree char *cwd = NULL, *user = NULL;
    gint64 timeout_s = -1;
    gboolean use_stdin = FALSE, detach = FALSE;
    GOptionEntry entries[] = {
        { "detach", 'd', 0, G_OPTION_ARG_NONE, &detach, "Run it as a background session and print its id", NULL },
        { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &envs, "Environment variable", "K=V" },
        { "cwd", 'w', 0, G_OPTION_ARG_STRING, &cwd,
          "Working directory (default: the template's WORKDIR, else the user's home)", "DIR" },
        { "user", 'u', 0, G_OPTION_ARG_STRING, &user,
          "Run as USER[:GROUP] (default: the template's USER, else root)", "USER" },
        { "timeout", 0, 0, G_OPTION_ARG_INT64, &timeout_s, "Seconds before the command is killed, 0: never (default 60)", "S" },
        { "stdin", 'i', 0, G_OPTION_ARG_NONE, &use_stdin, "Send oc's standard input to the command", NULL },
        { "json", 0, 0, G_OPTION_ARG_NONE, &cli->json, "Print the result as JSON", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("ID -- CMD [ARGS...] - run a command");
    g_autoptr(GByteArray) in = NULL;
    int dash = -1, rc;
    char **cmd;
    oc_sandbox *sb;
    oc_exec_result *r = NULL;
    oc_error *err = NULL;

    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return cmd_exec_list(cli, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "kill") == 0)
        return cmd_exec_kill(cli, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "attach") == 0)
        return cmd_exec_attach(cli, argc - 1, argv + 1);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dash = i;
            break;
        }
    g_option_context_add_main_entries(oc, entries, NULL);
    if (dash < 0)
        return cli_usage(oc, "put the command after --, e.g. oc exec ID -- ls -la /");
    cmd = argv + dash + 1;
    argc = dash; /* parse only what precedes -- */
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc != 2)
        return cli_usage(oc, "expected one sandbox id before --");
    if (!cmd[0])
        return cli_usage(oc, "no command after --");
    if (timeout_s >= 0)
        opts.timeout_ms = timeout_s * 1000;
    if (cmd[1])
        opts.args = (const char *const *)cmd + 1;
    opts.envs = (const char *const *)envs;
    opts.cwd = cwd;
    opts.user = user;
    if (detach && use_stdin)
        return cli_usage(oc, "--detach and --stdin do not go together (yet): a session's stdin "
                             "comes with attach");
    if (detach)
        return exec_detached(cli, argv[1], cmd[0], &opts);
    if (use_stdin) {
        in = g_byte_array_new();
        if (!read_all(STDIN_FILENO, in)) {
            fprintf(stderr, "oc: cannot read standard input\n");
            return CLI_EXIT_FAILURE;
        }
        opts.stdin_data = in->data ? (const void *)in->data : "";
        opts.stdin_len = in->len;
    }
    sb = cli_connect(cli, argv[1]);
    if (!sb)
        return CLI_EXIT_FAILURE;
    rc = oc_exec_run(&r, sb, cmd[0], &opts, &err);
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    if (cli->json) {
        cli_print_json(result_json(r));
    } else {
        size_t len;
        const char *data = oc_exec_result_stdout(r, &len);
        write_all(stdout, data, len);
        data = oc_exec_result_stderr(r, &len);
        write_all(stderr, data, len);
        if (oc_exec_result_stdout_truncated(r) || oc_exec_result_stderr_truncated(r))
            fprintf(stderr, "oc: output was cut at the exec output cap\n");
        if (oc_exec_result_timed_out(r))
            fprintf(stderr, "oc: the command timed out and was killed\n");
    }
    rc = oc_exec_result_timed_out(r) ? 124 : oc_exec_result_exit_code(r);
    oc_exec_result_free(r);
    return rc & 0xff;
}
