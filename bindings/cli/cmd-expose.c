/* cmd-expose.c: oc expose: guest ports reached from the host's loopback,
 * served by this process until it is stopped (docs/network.md). */
#include "cli.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

/* "PORT" or "PORT:HOSTPORT" into the two ports (hostport 0: any free). */
static gboolean parse_port_pair(const char *arg, guint16 *guest, guint16 *host)
{
    g_auto(GStrv) parts = g_strsplit(arg, ":", 2);
    guint64 g = 0, h = 0;

    if (!g_ascii_string_to_unsigned(parts[0], 10, 1, 65535, &g, NULL) ||
        (parts[1] && !g_ascii_string_to_unsigned(parts[1], 10, 0, 65535, &h, NULL)))
        return FALSE;
    *guest = (guint16)g;
    *host = (guint16)h;
    return TRUE;
}

int cmd_expose(Cli *cli, int argc, char **argv)
{
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID PORT[:HOSTPORT]... - reach guest ports at 127.0.0.1 until SIGINT or SIGTERM");
    g_autoptr(GMainLoop) loop = NULL;
    oc_sandbox *sb;
    int rc = 0;

    g_option_context_set_description(oc,
        "Each connection to the printed address is a connection to PORT on the guest's\n"
        "loopback, through the sandbox's agent; a hibernated sandbox wakes on connection.\n"
        "HOSTPORT: the host port to listen on (default: any free one).\n");
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 3)
        return cli_usage(oc, "expected a sandbox id and at least one port");
    for (int i = 2; i < argc; i++) {
        guint16 g, h;
        if (!parse_port_pair(argv[i], &g, &h))
            return cli_usage(oc, "'%s' is not PORT or PORT:HOSTPORT (ports 1 to 65535)",
                             argv[i]);
    }
    sb = cli_connect(cli, argv[1]);
    if (!sb)
        return CLI_EXIT_FAILURE;
    for (int i = 2; i < argc && rc == 0; i++) {
        guint16 g = 0, h = 0;
        char *addr = NULL;
        oc_error *err = NULL;
        parse_port_pair(argv[i], &g, &h);
        if (oc_sandbox_expose_port(sb, g, h, 0, &addr, &err) < 0) {
            rc = cli_fail(err);
            break;
        }
        printf("%u %s\n", g, addr);
        oc_free(addr);
    }
    fflush(stdout);
    if (rc == 0) {
        loop = g_main_loop_new(NULL, FALSE);
        g_unix_signal_add(SIGINT, cli_quit_loop, loop);
        g_unix_signal_add(SIGTERM, cli_quit_loop, loop);
        g_main_loop_run(loop);
    }
    oc_sandbox_unref(sb); /* closes the ports */
    return rc;
}
