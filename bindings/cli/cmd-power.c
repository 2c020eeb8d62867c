/* cmd-power.c: oc hibernate, wake, reboot, set-timeout, daemon (the reaper and the warm
 * pool). */
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

#include "cli.h"

static int hibernate_one(Cli *cli, oc_sandbox *sb, gpointer data)
{
    oc_error *err = NULL;

    if (oc_sandbox_hibernate(sb, 0, &err) < 0)
        return cli_fail(err);
    return cli_print_state(cli, sb, "hibernated", NULL);
}

int cmd_hibernate(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc =
        g_option_context_new("ID... - save sandboxes' memory to disk and stop their VMs");

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 2)
        return cli_usage(oc, "expected at least one sandbox id");
    return cli_for_each_id(cli, argc, argv, hibernate_one, NULL);
}

static int wake_one(Cli *cli, oc_sandbox *sb, gpointer data)
{
    oc_wake_options *opts = data;
    oc_error *err = NULL;
    int kind = OC_WAKE_NONE;

    if (oc_sandbox_wake(sb, opts, &kind, &err) < 0)
        return cli_fail(err);
    return cli_print_state(cli, sb, oc_wake_kind_name(kind), oc_wake_kind_name(kind));
}

int cmd_wake(Cli *cli, int argc, char **argv)
{
    oc_wake_options opts = OC_WAKE_OPTIONS_INIT;
    GOptionEntry entries[] = {
        { "timeout", 0, 0, G_OPTION_ARG_INT64, &opts.timeout_s,
          "New idle timeout in seconds, 0: never (default: unchanged)", "S" },
        CLI_JSON_ENTRY(cli),
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID... - bring hibernated sandboxes back; prints ID and restored, cold-boot or running");

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 2)
        return cli_usage(oc, "expected at least one sandbox id");
    if (opts.timeout_s < OC_TIMEOUT_KEEP)
        return cli_usage(oc, "--timeout takes seconds >= 0");
    cli_warn_if_tcg(cli);
    return cli_for_each_id(cli, argc, argv, wake_one, &opts);
}

static int reboot_one(Cli *cli, oc_sandbox *sb, gpointer data)
{
    const uint32_t *flags = data;
    oc_error *err = NULL;

    if (oc_sandbox_reboot(sb, *flags, &err) < 0)
        return cli_fail(err);
    return cli_print_state(cli, sb, *flags & OC_REBOOT_HARD ? "power-cycled" : "rebooted", NULL);
}

int cmd_reboot(Cli *cli, int argc, char **argv)
{
    gboolean hard = FALSE;
    GOptionEntry entries[] = {
        { "hard", 0, 0, G_OPTION_ARG_NONE, &hard,
          "Power-cycle: a new VM on the same disk (also boots a hibernated sandbox from its "
          "disk, dropping its memory)", NULL },
        CLI_JSON_ENTRY(cli),
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID... - restart sandboxes' guests from their disks: processes and memory are gone, "
        "files and settings stay");

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 2)
        return cli_usage(oc, "expected at least one sandbox id");
    cli_warn_if_tcg(cli);
    uint32_t flags = hard ? OC_REBOOT_HARD : 0;
    return cli_for_each_id(cli, argc, argv, reboot_one, &flags);
}

int cmd_set_timeout(Cli *cli, int argc, char **argv)
{
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID SECONDS - set the idle timeout (0: never) and restart the idle clock");
    oc_sandbox *sb;
    oc_error *err = NULL;
    guint64 seconds;
    int rc = 0;

    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc != 3)
        return cli_usage(oc, "expected a sandbox id and a number of seconds");
    if (!g_ascii_string_to_unsigned(argv[2], 10, 0, G_MAXUINT32, &seconds, NULL))
        return cli_usage(oc, "'%s' is not a number of seconds (0 to %u)", argv[2], G_MAXUINT32);
    sb = cli_connect(cli, argv[1]);
    if (!sb)
        return CLI_EXIT_FAILURE;
    if (oc_sandbox_set_timeout(sb, (uint32_t)seconds, 0, &err) < 0)
        rc = cli_fail(err);
    oc_sandbox_unref(sb);
    return rc;
}

static gboolean report_active(gpointer data)
{
    oc_reaper *reaper = data;

    if (oc_reaper_is_active(reaper)) {
        fprintf(stderr, "oc daemon: this is the active reaper now\n");
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Makes cli->ctx: with --pool, one that keeps a warm pool while it lives
 * (and kills the pool's sandboxes when the daemon exits). */
static int daemon_context(Cli *cli, int pool, int pool_memory, char **pool_templates)
{
    oc_context_options opts = OC_CONTEXT_OPTIONS_INIT;
    oc_error *err = NULL;

    opts.pool_size = (uint32_t)pool;
    opts.pool_memory_mb = (uint32_t)pool_memory;
    opts.pool_templates = (const char *const *)pool_templates;
    opts.flags = cli->context_flags;
    if (oc_context_new(&cli->ctx, &opts, &err) < 0)
        return cli_fail(err);
    if (pool > 0)
        fprintf(stderr, "oc daemon: keeping %d ready sandbox%s per pooled template, in up to "
                        "%d MB\n", pool, pool == 1 ? "" : "es",
                pool_memory ? pool_memory : OC_DEFAULT_POOL_MEMORY_MB);
    return 0;
}

int cmd_daemon(Cli *cli, int argc, char **argv)
{
    int pool = 0, pool_memory = 0, rc;
    g_auto(GStrv) pool_templates = NULL;
    GOptionEntry entries[] = {
        { "pool", 0, 0, G_OPTION_ARG_INT, &pool, "Keep N ready sandboxes per pooled template (default 0: no pool)", "N" },
        { "pool-memory", 0, 0, G_OPTION_ARG_INT, &pool_memory, "Memory the pool may hold (default 2048)", "MB" },
        { "pool-template", 0, 0, G_OPTION_ARG_STRING_ARRAY, &pool_templates, "A template to pool (default: base)", "NAME" },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "- run the idle reaper until SIGINT or SIGTERM: hibernate sandboxes idle past their "
        "timeout; with --pool, also keep sandboxes ready for oc create to claim");
    g_autoptr(GMainLoop) loop = NULL;
    oc_reaper *reaper = NULL;
    oc_error *err = NULL;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc > 1)
        return cli_usage(oc, "unexpected argument '%s'", argv[1]);
    if (pool < 0 || pool_memory < 0)
        return cli_usage(oc, "--pool and --pool-memory take numbers >= 0");
    if (pool == 0 && (pool_memory || pool_templates))
        return cli_usage(oc, "--pool-memory and --pool-template need --pool N");
    cli_log_level_at_least(OC_LOG_INFO); /* a daemon tells what it does */
    rc = daemon_context(cli, pool, pool_memory, pool_templates);
    if (rc)
        return rc;
    if (oc_reaper_start(&reaper, cli->ctx, 0, &err) < 0)
        return cli_fail(err);
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGINT, cli_quit_loop, loop);
    g_unix_signal_add(SIGTERM, cli_quit_loop, loop);
    if (!oc_reaper_is_active(reaper)) {
        fprintf(stderr, "oc daemon: another reaper is active on this host; waiting to take over\n");
        g_timeout_add(OC_REAPER_INTERVAL_MS, report_active, reaper);
    }
    g_main_loop_run(loop);
    oc_reaper_stop(reaper);
    return 0;
}
