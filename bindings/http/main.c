/* oc-server: the HTTP API of @opencomputer/sdk on this host's sandboxes. */
#include <glib-unix.h>
#include <stdio.h>

#include "config.h"
#include "server.h"

static void log_library(int level, const char *message, void *user_data)
{
    if (level <= OC_LOG_WARNING)
        fprintf(stderr, "oc-server: %s\n", message);
}

static gboolean quit(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static int fail(const char *what, const char *message)
{
    fprintf(stderr, "oc-server: %s%s\n", what, message);
    return 1;
}

int main(int argc, char **argv)
{
    HttpConfig cfg;
    oc_context_options opts = OC_CONTEXT_OPTIONS_INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autofree char *where = NULL;
    HttpServer *srv = NULL;
    oc_context *ctx = NULL;
    oc_reaper *reaper = NULL;
    oc_error *err = NULL;
    int rc = 0;

    if (!http_config_load(&cfg, &argc, &argv, &error))
        return fail("", error->message);
    addr = http_config_address(&cfg, &error);
    if (!addr) {
        http_config_clear(&cfg);
        return fail("", error->message);
    }
    oc_set_log_handler(log_library, NULL, NULL);
    opts.state_dir = cfg.state_dir;
    opts.pool_size = cfg.pool_size;
    if (oc_context_new(&ctx, &opts, &err) < 0) {
        rc = fail("cannot open the library: ", oc_error_message(err));
        goto out;
    }
    if (g_strcmp0(oc_context_accelerator(ctx), "tcg") == 0)
        fprintf(stderr, "oc-server: warning: no KVM on this host; sandboxes run under TCG, "
                        "which is not a security boundary\n");
    if (cfg.reaper && oc_reaper_start(&reaper, ctx, 0, &err) < 0) {
        rc = fail("cannot start the idle reaper: ", oc_error_message(err));
        goto out;
    }
    srv = http_server_new(&cfg, ctx, &error);
    if (!srv || !http_server_listen(srv, addr, &error)) {
        rc = fail("", error->message);
        goto out;
    }
    where = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(addr));
    fprintf(stderr, "oc-server: listening on http://%s/api (%s)\n", where,
            cfg.api_keys && cfg.api_keys[0] ? "API key required" : "no API key: loopback only");
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGINT, quit, loop);
    g_unix_signal_add(SIGTERM, quit, loop);
    g_main_loop_run(loop);
out:
    http_server_free(srv);
    if (reaper)
        oc_reaper_stop(reaper);
    oc_error_free(err);
    oc_context_unref(ctx);
    http_config_clear(&cfg);
    return rc;
}
