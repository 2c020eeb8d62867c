/* cmd-build.c: oc template build NAME -f Dockerfile [--context DIR]
 * [--build-arg K=V]...: builds a template, printing its log live. */
#include <stdio.h>

#include "cli.h"

int cmd_template_build(Cli *cli, int argc, char **argv)
{
    g_autofree char *file = NULL, *context = NULL, *text = NULL;
    g_auto(GStrv) build_args = NULL;
    GOptionEntry entries[] = {
        { "file", 'f', 0, G_OPTION_ARG_FILENAME, &file, "The Dockerfile (- for stdin)", "PATH" },
        { "context", 0, 0, G_OPTION_ARG_FILENAME, &context,
          "Where COPY sources are (default: the Dockerfile's directory)", "DIR" },
        { "build-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &build_args,
          "A value for one of the Dockerfile's ARGs (repeatable)", "K=V" },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "NAME - build template NAME from a Dockerfile (FROM, RUN, COPY, ENV, WORKDIR, USER, "
        "ARG); steps whose inputs did not change are cached");
    oc_template_build_options opts = OC_TEMPLATE_BUILD_OPTIONS_INIT;
    g_autoptr(GError) gerr = NULL;
    oc_error *err = NULL;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc != 2)
        return cli_usage(oc, "expected one template name");
    if (!file)
        return cli_usage(oc, "name the Dockerfile with -f PATH");
    if (g_str_equal(file, "-") ? !g_file_get_contents("/dev/stdin", &text, NULL, &gerr)
                               : !g_file_get_contents(file, &text, NULL, &gerr)) {
        fprintf(stderr, "oc: cannot read the Dockerfile: %s\n", gerr->message);
        return CLI_EXIT_FAILURE;
    }
    if (!context)
        context = g_str_equal(file, "-") ? g_get_current_dir() : g_path_get_dirname(file);
    opts.dockerfile = text;
    opts.context_dir = context;
    opts.build_args = (const char *const *)build_args;
    opts.log = cli_log_line;
    cli_warn_if_tcg(cli);
    if (oc_template_build(cli->ctx, argv[1], &opts, &err) < 0)
        return cli_fail(err);
    return 0;
}
