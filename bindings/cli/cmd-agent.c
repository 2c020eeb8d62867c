/* cmd-agent.c: oc agent start|attach|prompt|interrupt|configure|kill|list,
 * agent sessions from the terminal (docs/agent-sessions.md).
 *
 * Events are printed as they come, one JSON line each, from the session's
 * callback thread; the main thread waits for the end, or for Ctrl-C, which
 * detaches (the agent goes on). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t got_stop;
static gint replay_done; /* atomic: the history has been printed */

static void on_stop(int sig)
{
    got_stop = sig;
}

static void print_event(const char *type, const char *json, void *user_data)
{
    fputs(json, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void print_stderr(const char *data, size_t len, void *user_data)
{
    fwrite(data, 1, len, stderr);
}

static void mark_replay_done(void *user_data)
{
    g_atomic_int_set(&replay_done, 1);
}

static const oc_agent_callbacks print_callbacks = {
    .version = OC_AGENT_CALLBACKS_VERSION,
    .on_event = print_event,
    .on_stderr = print_stderr,
    .on_replay_end = mark_replay_done,
};

/* Follows s until the program exits (its exit code), the connection is lost
 * (1), Ctrl-C (0, detached), or with history_only the history is out (0). */
static int follow(oc_agent_session *s, gboolean history_only)
{
    struct sigaction sa = { .sa_handler = on_stop };
    oc_error *err = NULL;
    int code = 0, rc;

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        rc = oc_agent_wait(s, 100, &code, &err);
        if (rc != OC_ETIMEOUT)
            break;
        oc_error_free(err);
        err = NULL;
        if (got_stop || (history_only && g_atomic_int_get(&replay_done))) {
            oc_agent_close(s);
            return 0;
        }
    }
    oc_agent_close(s);
    if (rc != OC_OK)
        return cli_fail(err);
    return code;
}

/* ---- verbs ---- */

static int agent_start(Cli *cli, int argc, char **argv)
{
    oc_agent_options opts = OC_AGENT_OPTIONS_INIT;
    g_auto(GStrv) args = NULL, envs = NULL;
    char *prompt = NULL, *program = NULL, *model = NULL, *system = NULL, *cwd = NULL;
    char *config = NULL;
    gboolean do_follow = FALSE;
    int max_turns = 0;
    GOptionEntry entries[] = {
        { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "The first prompt", "TEXT" },
        { "program", 0, 0, G_OPTION_ARG_STRING, &program,
          "The agent program (default: the template's, else " OC_AGENT_DEFAULT_PROGRAM ")",
          "PATH" },
        { "arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args, "An argument of the program (repeat)",
          "ARG" },
        { "model", 0, 0, G_OPTION_ARG_STRING, &model, "Setting: model", "NAME" },
        { "system-prompt", 0, 0, G_OPTION_ARG_STRING, &system, "Setting: systemPrompt", "TEXT" },
        { "max-turns", 0, 0, G_OPTION_ARG_INT, &max_turns, "Setting: maxTurns", "N" },
        { "cwd", 0, 0, G_OPTION_ARG_STRING, &cwd, "The program's directory (default /root)",
          "DIR" },
        { "config", 0, 0, G_OPTION_ARG_STRING, &config,
          "More settings, a JSON object (e.g. '{\"allowedTools\":[\"Bash\"]}')", "JSON" },
        { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &envs, "KEY=VALUE (repeat)", "KV" },
        { "follow", 'f', 0, G_OPTION_ARG_NONE, &do_follow,
          "Print the events as JSON lines until the program exits", NULL },
        CLI_JSON_ENTRY(cli),
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("ID - start an agent session and print "
                                                        "its id");
    oc_agent_session *s = NULL;
    oc_error *err = NULL;
    oc_sandbox *sb;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_one_id(cli, oc, argc, argv, &rc);
    if (!sb)
        return rc;
    if (max_turns < 0) {
        oc_sandbox_unref(sb);
        return cli_usage(oc, "--max-turns must be 0 (unset) or more");
    }
    opts.program = program;
    opts.args = (const char *const *)args;
    opts.prompt = prompt;
    opts.model = model;
    opts.system_prompt = system;
    opts.max_turns = (uint32_t)max_turns;
    opts.cwd = cwd;
    opts.config_json = config;
    opts.envs = (const char *const *)envs;
    rc = oc_agent_start(&s, sb, &opts, do_follow ? &print_callbacks : NULL, &err);
    oc_sandbox_unref(sb);
    g_free(prompt), g_free(program), g_free(model), g_free(system), g_free(cwd), g_free(config);
    if (rc < 0)
        return cli_fail(err);
    if (cli->json)
        printf("{\"sessionID\": \"%u\"}\n", oc_agent_session_id(s));
    else if (!do_follow)
        printf("%u\n", oc_agent_session_id(s));
    fflush(stdout);
    if (do_follow)
        return follow(s, FALSE);
    oc_agent_close(s);
    return 0;
}

static int agent_attach(Cli *cli, int argc, char **argv)
{
    gboolean history_only = FALSE;
    GOptionEntry entries[] = {
        { "no-follow", 0, 0, G_OPTION_ARG_NONE, &history_only,
          "Print the history and stop, without following", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("ID SESSION - print an agent session's "
                                                        "events as JSON lines: its history, "
                                                        "then live ones (Ctrl-C detaches)");
    oc_agent_session *s = NULL;
    oc_error *err = NULL;
    uint32_t session;
    oc_sandbox *sb;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_id_session(cli, oc, argc, argv, &session, &rc);
    if (!sb)
        return rc;
    rc = oc_agent_attach(&s, sb, session, &print_callbacks, &err);
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    return follow(s, history_only);
}

typedef enum { SEND_PROMPT, SEND_INTERRUPT, SEND_CONFIGURE } SendKind;

/* oc agent prompt|configure ID SESSION ARG, oc agent interrupt ID SESSION:
 * attaches without printing, writes the command, detaches. */
static int agent_send(Cli *cli, int argc, char **argv, SendKind kind, const char *summary)
{
    g_autoptr(GOptionContext) oc = g_option_context_new(summary);
    oc_agent_session *s = NULL;
    oc_error *err = NULL;
    const char *arg = NULL;
    uint32_t session;
    oc_sandbox *sb;
    int rc;

    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (kind != SEND_INTERRUPT) {
        if (argc != 4)
            return cli_usage(oc, "expected a sandbox id, a session id and %s",
                             kind == SEND_PROMPT ? "the prompt's text" : "a JSON object");
        arg = argv[--argc];
    }
    sb = cli_parse_id_session(cli, oc, argc, argv, &session, &rc);
    if (!sb)
        return rc;
    rc = oc_agent_attach(&s, sb, session, NULL, &err);
    oc_sandbox_unref(sb);
    if (rc == OC_OK) {
        if (kind == SEND_PROMPT)
            rc = oc_agent_send_prompt(s, arg, &err);
        else if (kind == SEND_CONFIGURE)
            rc = oc_agent_configure(s, arg, &err);
        else
            rc = oc_agent_interrupt(s, &err);
        oc_agent_close(s);
    }
    return rc < 0 ? cli_fail(err) : 0;
}

static int agent_prompt(Cli *cli, int argc, char **argv)
{
    return agent_send(cli, argc, argv, SEND_PROMPT, "ID SESSION TEXT - send a prompt");
}

static int agent_interrupt(Cli *cli, int argc, char **argv)
{
    return agent_send(cli, argc, argv, SEND_INTERRUPT, "ID SESSION - interrupt the turn");
}

static int agent_configure(Cli *cli, int argc, char **argv)
{
    return agent_send(cli, argc, argv, SEND_CONFIGURE,
                      "ID SESSION JSON - send settings, e.g. '{\"model\":\"m\"}'");
}

static int agent_kill(Cli *cli, int argc, char **argv)
{
    int sig = 0;
    GOptionEntry entries[] = {
        { "signal", 's', 0, G_OPTION_ARG_INT, &sig, "Signal number (default 9, SIGKILL)", "N" },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("ID SESSION - end an agent session");
    oc_error *err = NULL;
    uint32_t session;
    oc_sandbox *sb;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_id_session(cli, oc, argc, argv, &session, &rc);
    if (!sb)
        return rc;
    rc = oc_agent_kill(sb, session, sig, &err);
    oc_sandbox_unref(sb);
    return rc < 0 ? cli_fail(err) : 0;
}

static int agent_list(Cli *cli, int argc, char **argv)
{
    return cli_list_sessions(cli, argc, argv, TRUE);
}

int cmd_agent(Cli *cli, int argc, char **argv)
{
    static const CliVerb verbs[] = {
        { "start", agent_start, "start an agent session: oc agent start ID [--prompt T] [--follow]" },
        { "attach", agent_attach, "print its events (history, then live): oc agent attach ID SESSION" },
        { "prompt", agent_prompt, "send a prompt: oc agent prompt ID SESSION TEXT" },
        { "interrupt", agent_interrupt, "interrupt the turn: oc agent interrupt ID SESSION" },
        { "configure", agent_configure, "send settings: oc agent configure ID SESSION JSON" },
        { "kill", agent_kill, "end an agent session: oc agent kill ID SESSION" },
        { "list", agent_list, "list agent sessions: oc agent list ID" },
    };

    return cli_dispatch(cli, "agent", verbs, G_N_ELEMENTS(verbs), argc, argv);
}
