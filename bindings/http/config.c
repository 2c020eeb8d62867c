/* config.c: defaults, key file and command line for oc-server. */
#include "config.h"

#include <string.h>

#define GROUP "server"

static gboolean key_int(GKeyFile *kf, const char *key, gint64 min, gint64 *out, GError **error)
{
    g_autoptr(GError) local = NULL;
    gint64 v;

    if (!g_key_file_has_key(kf, GROUP, key, NULL))
        return TRUE;
    v = g_key_file_get_int64(kf, GROUP, key, &local);
    if (local || v < min) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "config key '%s' must be a number >= %" G_GINT64_FORMAT, key, min);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean load_file(HttpConfig *cfg, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    gint64 pool = cfg->pool_size, quota = cfg->max_sandboxes, wait = cfg->exec_wait_ms;
    gint64 io = cfg->io_timeout_s, request = cfg->request_timeout_s;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, error)) {
        g_prefix_error(error, "cannot read config file %s: ", path);
        return FALSE;
    }
    if (g_key_file_has_key(kf, GROUP, "listen", NULL)) {
        g_free(cfg->listen);
        cfg->listen = g_key_file_get_string(kf, GROUP, "listen", NULL);
    }
    if (g_key_file_has_key(kf, GROUP, "api-keys", NULL)) {
        g_strfreev(cfg->api_keys);
        cfg->api_keys = g_key_file_get_string_list(kf, GROUP, "api-keys", NULL, NULL);
    }
    if (g_key_file_has_key(kf, GROUP, "state-dir", NULL)) {
        g_free(cfg->state_dir);
        cfg->state_dir = g_key_file_get_string(kf, GROUP, "state-dir", NULL);
    }
    if (g_key_file_has_key(kf, GROUP, "preview-domain", NULL)) {
        g_free(cfg->preview_domain);
        cfg->preview_domain = g_key_file_get_string(kf, GROUP, "preview-domain", NULL);
    }
    if (g_key_file_has_key(kf, GROUP, "public-url", NULL)) {
        g_free(cfg->public_url);
        cfg->public_url = g_key_file_get_string(kf, GROUP, "public-url", NULL);
    }
    if (g_key_file_has_key(kf, GROUP, "reaper", NULL))
        cfg->reaper = g_key_file_get_boolean(kf, GROUP, "reaper", NULL);
    if (!key_int(kf, "pool-size", 0, &pool, error) ||
        !key_int(kf, "max-body-bytes", 1024, &cfg->max_body, error) ||
        !key_int(kf, "max-upload-bytes", 1024, &cfg->max_upload, error) ||
        !key_int(kf, "max-sandboxes", 0, &quota, error) ||
        !key_int(kf, "exec-wait-ms", 0, &wait, error) ||
        !key_int(kf, "io-timeout-s", 1, &io, error) ||
        !key_int(kf, "request-timeout-s", 1, &request, error)) {
        g_prefix_error(error, "%s: ", path);
        return FALSE;
    }
    cfg->pool_size = (guint)MIN(pool, 64);
    cfg->max_sandboxes = (guint)MIN(quota, G_MAXUINT);
    cfg->exec_wait_ms = (guint)MIN(wait, 60000);
    cfg->io_timeout_s = (guint)MIN(io, 3600);
    cfg->request_timeout_s = (guint)MIN(request, 86400);
    return TRUE;
}

gboolean http_config_load(HttpConfig *cfg, int *argc, char ***argv, GError **error)
{
    g_autofree char *config = NULL, *listen = NULL, *state_dir = NULL, *domain = NULL;
    g_auto(GStrv) keys = NULL;
    int pool = -1, quota = -1, wait = -1, request = -1;
    gboolean no_reaper = FALSE;
    GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Read settings from FILE (group [server])", "FILE" },
        { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen, "Listen on ADDR:PORT (default " HTTP_DEFAULT_LISTEN ")", "ADDR:PORT" },
        { "api-key", 'k', 0, G_OPTION_ARG_STRING_ARRAY, &keys, "Accept this API key (repeatable; visible in ps: prefer the config file)", "KEY" },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "The library's state directory", "DIR" },
        { "pool-size", 0, 0, G_OPTION_ARG_INT, &pool, "Keep N ready sandboxes of the base template (default 0)", "N" },
        { "max-sandboxes", 0, 0, G_OPTION_ARG_INT, &quota, "Refuse creates past N sandboxes with 429 (default 0: no quota)", "N" },
        { "exec-wait-ms", 0, 0, G_OPTION_ARG_INT, &wait, "run-async answers inline if the command ends within MS (default 1000)", "MS" },
        { "request-timeout-s", 0, 0, G_OPTION_ARG_INT, &request, "A request (headers and body) must arrive within S seconds, else 408 (default 60)", "S" },
        { "preview-domain", 0, 0, G_OPTION_ARG_STRING, &domain, "Serve sandbox ports at Host sb-ID-pPORT.DOMAIN (default " HTTP_DEFAULT_PREVIEW_DOMAIN ")", "DOMAIN" },
        { "no-reaper", 0, 0, G_OPTION_ARG_NONE, &no_reaper, "Do not hibernate idle sandboxes", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "- serve the OpenComputer HTTP API (for @opencomputer/sdk) on this host's sandboxes");

    memset(cfg, 0, sizeof *cfg);
    cfg->listen = g_strdup(HTTP_DEFAULT_LISTEN);
    cfg->max_body = HTTP_DEFAULT_MAX_BODY;
    cfg->max_upload = HTTP_DEFAULT_MAX_UPLOAD;
    cfg->exec_wait_ms = HTTP_DEFAULT_EXEC_WAIT_MS;
    cfg->io_timeout_s = HTTP_DEFAULT_IO_TIMEOUT_S;
    cfg->request_timeout_s = HTTP_DEFAULT_REQUEST_TIMEOUT_S;
    cfg->reaper = TRUE;
    cfg->preview_domain = g_strdup(HTTP_DEFAULT_PREVIEW_DOMAIN);
    g_option_context_add_main_entries(oc, entries, NULL);
    if (!g_option_context_parse(oc, argc, argv, error))
        return FALSE;
    if (*argc > 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "unexpected argument '%s' (see --help)", (*argv)[1]);
        return FALSE;
    }
    if (config && !load_file(cfg, config, error))
        return FALSE;
    if (listen)
        g_free(cfg->listen), cfg->listen = g_steal_pointer(&listen);
    if (keys)
        g_strfreev(cfg->api_keys), cfg->api_keys = g_steal_pointer(&keys);
    if (state_dir)
        g_free(cfg->state_dir), cfg->state_dir = g_steal_pointer(&state_dir);
    if (domain)
        g_free(cfg->preview_domain), cfg->preview_domain = g_steal_pointer(&domain);
    if (!cfg->preview_domain || !cfg->preview_domain[0] || strchr(cfg->preview_domain, ':') ||
        strchr(cfg->preview_domain, '/')) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "preview-domain must be a DNS name without port, e.g. localhost or "
                    "preview.example.com");
        return FALSE;
    }
    if (cfg->public_url && !g_str_has_prefix(cfg->public_url, "http://") &&
        !g_str_has_prefix(cfg->public_url, "https://")) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "public-url must be the server's URL as clients reach it, the SDK's apiUrl "
                    "(http://... or https://...)");
        return FALSE;
    }
    /* the SDK's apiUrl may end in /api or not; the routes add it */
    if (cfg->public_url && g_str_has_suffix(cfg->public_url, "/"))
        cfg->public_url[strlen(cfg->public_url) - 1] = '\0';
    if (cfg->public_url && g_str_has_suffix(cfg->public_url, "/api"))
        cfg->public_url[strlen(cfg->public_url) - 4] = '\0';
    /* -1 is "not given" */
    if (pool < -1 || pool > 64 || quota < -1 || wait < -1 || wait > 60000 || request == 0 ||
        request < -1 || request > 86400) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--pool-size takes 0 to 64, --max-sandboxes >= 0, --exec-wait-ms 0 to "
                    "60000, --request-timeout-s 1 to 86400");
        return FALSE;
    }
    if (pool >= 0)
        cfg->pool_size = (guint)pool;
    if (quota >= 0)
        cfg->max_sandboxes = (guint)quota;
    if (wait >= 0)
        cfg->exec_wait_ms = (guint)wait;
    if (request > 0)
        cfg->request_timeout_s = (guint)request;
    if (no_reaper)
        cfg->reaper = FALSE;
    for (char **k = cfg->api_keys; k && *k; k++)
        if (strlen(*k) < 16) {
            g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                "an API key must be at least 16 characters long");
            return FALSE;
        }
    return TRUE;
}

GSocketAddress *http_config_address(const HttpConfig *cfg, GError **error)
{
    g_autoptr(GSocketConnectable) na = NULL;
    g_autoptr(GInetAddress) ia = NULL;
    const char *host;
    guint16 port;

    na = g_network_address_parse(cfg->listen, 8080, error);
    if (!na) {
        g_prefix_error(error, "listen address '%s': ", cfg->listen);
        return NULL;
    }
    host = g_network_address_get_hostname(G_NETWORK_ADDRESS(na));
    port = g_network_address_get_port(G_NETWORK_ADDRESS(na));
    ia = strcmp(host, "localhost") == 0 ? g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4)
                                        : g_inet_address_new_from_string(host);
    if (!ia) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "listen address '%s': give an IP address (e.g. 127.0.0.1:8080 or [::1]:8080)",
                    cfg->listen);
        return NULL;
    }
    /* Not even on loopback: every sandbox reaches the host's loopback
     * through its gateway (docs/network.md), so a keyless server there
     * would let any sandbox drive every other. */
    if (!(cfg->api_keys && cfg->api_keys[0])) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                    "refusing to listen on %s without an API key: sandboxes reach the host's "
                    "loopback through their gateway, so even on 127.0.0.1 a server without a "
                    "key would let any sandbox control every other; set api-keys in the config "
                    "file (mode 0600)", cfg->listen);
        return NULL;
    }
    return g_inet_socket_address_new(ia, port);
}

void http_config_clear(HttpConfig *cfg)
{
    g_clear_pointer(&cfg->listen, g_free);
    g_clear_pointer(&cfg->api_keys, g_strfreev);
    g_clear_pointer(&cfg->state_dir, g_free);
    g_clear_pointer(&cfg->preview_domain, g_free);
    g_clear_pointer(&cfg->public_url, g_free);
}

char *http_server_state_path(const char *state_dir, const char *name)
{
    const char *base = state_dir ? state_dir : g_getenv("OC_STATE_DIR");

    return g_build_filename(base && *base ? base : "/var/lib/opencomputer", "server", name, NULL);
}

