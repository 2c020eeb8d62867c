/* oc.c: entry point of the `oc` command line; dispatches to the verbs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(Cli *cli, int argc, char **argv);
    const char *help;
} verbs[] = {
    { "create", cmd_create, "create a sandbox and print its id" },
    { "ls", cmd_ls, "list sandboxes" },
    { "info", cmd_info, "show one sandbox" },
    { "exec", cmd_exec, "run a command in a sandbox: oc exec ID -- CMD [ARGS...]" },
    { "files", cmd_files, "files in a sandbox: oc files cat|put|ls ID ..." },
    { "kill", cmd_kill, "stop and delete sandboxes" },
};

static int usage(FILE *f)
{
    fprintf(f, "usage: oc [--json] VERB [OPTIONS] [ARGS]\n\nverbs:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
        fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].help);
    fprintf(f, "\n`oc VERB --help` tells more.  OC_STATE_DIR sets the state directory.\n");
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
    for (size_t v = 0; v < G_N_ELEMENTS(verbs); v++) {
        if (strcmp(argv[i], verbs[v].name) != 0)
            continue;
        /* --json may also follow the verb */
        for (int j = i + 1; j < argc && strcmp(argv[j], "--") != 0; j++)
            if (strcmp(argv[j], "--json") == 0)
                cli.json = TRUE;
        if (oc_context_new(&cli.ctx, NULL, &err) < 0)
            return cli_fail(err);
        rc = verbs[v].fn(&cli, argc - i, argv + i);
        oc_context_unref(cli.ctx);
        return rc;
    }
    fprintf(stderr, "oc: unknown verb '%s'\n", argv[i]);
    return usage(stderr);
}
