/* oc.c: entry point of the `oc` command line; dispatches to the verbs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(Cli *cli, int argc, char **argv);
    const char *help;
    /* The verb makes cli->ctx itself, with options of its own (oc daemon
     * --pool); main() only unrefs it. */
    gboolean makes_context;
} verbs[] = {
    { "create", cmd_create, "create a sandbox and print its id" },
    { "ls", cmd_ls, "list sandboxes" },
    { "info", cmd_info, "show one sandbox" },
    { "exec", cmd_exec, "run a command in a sandbox: oc exec ID -- CMD [ARGS...]" },
    { "shell", cmd_shell, "an interactive terminal in a sandbox: oc shell ID" },
    { "agent", cmd_agent,
      "coding-agent sessions: oc agent start|attach|prompt|interrupt|kill|list ..." },
    { "files", cmd_files, "files in a sandbox: oc files cat|put|ls ID ..." },
    { "kill", cmd_kill, "stop and delete sandboxes" },
    { "hibernate", cmd_hibernate, "save sandboxes to disk and stop their VMs" },
    { "wake", cmd_wake, "bring hibernated sandboxes back" },
    { "reboot", cmd_reboot, "restart sandboxes' guests from their disks (--hard: new VMs)" },
    { "expose", cmd_expose, "reach guest ports from the host: oc expose ID PORT[:HOSTPORT]..." },
    { "set-timeout", cmd_set_timeout, "set a sandbox's idle timeout: oc set-timeout ID SECONDS" },
    { "checkpoint", cmd_checkpoint,
      "checkpoints of sandboxes: oc checkpoint create|list|restore|delete|spawn ..." },
    { "template", cmd_template,
      "templates and their ready snapshots: oc template build|import|list|get|delete|prune|prepare|status ..." },
    { "pool", cmd_pool, "the warm pool: oc pool status [TEMPLATE...]" },
    { "network", cmd_network, "egress policies of sandboxes: oc network set|clear|get ID ..." },
    { "daemon", cmd_daemon, "run the idle reaper (and with --pool, a warm pool) in the foreground",
      TRUE },
};

/* Library log lines go to stderr: warnings and errors always (they tell of
 * something the command worked around), the rest with --verbose. */
static int log_level = OC_LOG_WARNING;

void cli_log_level_at_least(int level)
{
    log_level = MAX(log_level, level);
}

static void log_to_stderr(int level, const char *message, void *user_data)
{
    if (level <= log_level)
        fprintf(stderr, "oc: %s%s\n", level <= OC_LOG_WARNING ? "warning: " : "", message);
}

static int usage(FILE *f)
{
    fprintf(f, "usage: oc [--json] [--verbose] [--require-kvm] VERB [OPTIONS] [ARGS]\n\nverbs:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
        fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].help);
    fprintf(f, "\n`oc VERB --help` tells more.  OC_STATE_DIR sets the state directory.\n"
               "--require-kvm refuses to run where sandboxes would run under TCG emulation,\n"
               "which is not a security boundary.\n");
    return f == stdout ? 0 : CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    Cli cli = { 0 };
    oc_error *err = NULL;
    int i = 1, rc;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0)
            cli.json = TRUE;
        else if (strcmp(argv[i], "--require-kvm") == 0)
            cli.context_flags |= OC_CONTEXT_REQUIRE_KVM;
        else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            log_level = OC_LOG_DEBUG;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout);
        else if (strcmp(argv[i], "--version") == 0) {
            printf("oc %d.%d.%d\n", OC_VERSION_MAJOR, OC_VERSION_MINOR, OC_VERSION_MICRO);
            return 0;
        } else {
            fprintf(stderr, "oc: unknown option %s\n", argv[i]);
            return usage(stderr);
        }
    }
    if (i >= argc)
        return usage(stderr);
    oc_set_log_handler(log_to_stderr, NULL, NULL);
    for (size_t v = 0; v < G_N_ELEMENTS(verbs); v++) {
        if (strcmp(argv[i], verbs[v].name) != 0)
            continue;
        /* --json may also follow the verb */
        for (int j = i + 1; j < argc && strcmp(argv[j], "--") != 0; j++)
            if (strcmp(argv[j], "--json") == 0)
                cli.json = TRUE;
        g_autofree char *prgname = g_strdup_printf("oc %s", verbs[v].name);
        g_set_prgname(prgname);
        oc_context_options opts = OC_CONTEXT_OPTIONS_INIT;
        opts.flags = cli.context_flags;
        if (!verbs[v].makes_context && oc_context_new(&cli.ctx, &opts, &err) < 0)
            return cli_fail(err);
        rc = verbs[v].fn(&cli, argc - i, argv + i);
        oc_context_unref(cli.ctx);
        return rc;
    }
    fprintf(stderr, "oc: unknown verb '%s'\n", argv[i]);
    return usage(stderr);
}
