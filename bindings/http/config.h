/* config.h: oc-server's settings, from a key file and the command line. */
#pragma once

#include <gio/gio.h>

#define HTTP_DEFAULT_LISTEN "127.0.0.1:8080"
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define HTTP_DEFAULT_MAX_UPLOAD (256 * 1024 * 1024)
#define HTTP_DEFAULT_EXEC_WAIT_MS 1000
#define HTTP_DEFAULT_IO_TIMEOUT_S 30
#define HTTP_DEFAULT_REQUEST_TIMEOUT_S 60
#define HTTP_DEFAULT_PREVIEW_DOMAIN "localhost"

typedef struct {
    char *listen;          /* "host:port" or "[v6]:port"; host must be an address */
    GStrv api_keys;        /* NULL or empty: no key, loopback only */
    char *state_dir;       /* NULL: the library's default */
    guint pool_size;
    gint64 max_body;       /* bytes of a JSON body */
    gint64 max_upload;     /* bytes of a file upload (PUT .../files) */
    guint max_sandboxes;   /* 0: no quota */
    guint exec_wait_ms;    /* how long run-async waits to answer inline */
    guint io_timeout_s;    /* a client idle this long mid-request is dropped */
    guint request_timeout_s; /* a request (headers and body) not in by then: 408 */
    gboolean reaper;
    char *preview_domain;  /* previews at sb-{id}-p{port}.<this> (Host header) */
    char *public_url;      /* NULL: signed URLs name the Host they were asked at */
} HttpConfig;

/* Defaults, then the key file (--config, group [server]), then flags.
 * Returns FALSE with a message that says what to fix. */
gboolean http_config_load(HttpConfig *cfg, int *argc, char ***argv, GError **error);
/* The address to bind; refuses a non-loopback one when no key is set. */
GSocketAddress *http_config_address(const HttpConfig *cfg, GError **error);
void http_config_clear(HttpConfig *cfg);
/* <state_dir or $OC_STATE_DIR or the library's default>/server/<name>: the
 * server's own state (preview records, snapshots, the URL signing key). */
char *http_server_state_path(const char *state_dir, const char *name);
