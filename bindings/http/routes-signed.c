/* routes-signed.c: the SDK's downloadUrl and uploadUrl.  POST
 * .../files/download-url and .../files/upload-url (with the API key) answer
 * {url}; that URL, GET or PUT .../files/signed?path=&op=&exp=&sig=, needs
 * no key: its signature (signed-url.h) is checked before the body is read,
 * then the ordinary files handlers serve it.  The key is 32 random bytes in
 * <state-dir>/server/url-signing.key (0600), made on first start and kept,
 * so URLs outlive a restart; removing the file revokes them all. */
#include "handlers.h"
#include "preview.h"
#include "sandboxes.h"
#include "signed-url.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE "url-signing.key"
#define MAX_PATH_LEN 4096

/* Writes a new key to path, unless one is there already: made whole in a
 * temporary file, then linked into place, which fails if another server
 * made one meanwhile (then that one is used). */
static gboolean make_key(const char *path, GError **error)
{
    g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path);
    g_autofree char *hex = http_random_token(error);
    g_autofree char *text = NULL;
    int fd, e = 0;

    if (!hex)
        return FALSE;
    text = g_strconcat(hex, "\n", NULL);
    errno = 0;
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0 ||
        (link(tmp, path) < 0 && errno != EEXIST))
        e = errno ? errno : EIO;
    if (fd >= 0) {
        close(fd);
        g_unlink(tmp);
    }
    if (e) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot write the URL signing key %s: %s (set state-dir to a writable "
                    "directory)", path, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

HttpSigner *http_signer_load(const char *state_dir, GError **error)
{
    g_autofree char *path = http_server_state_path(state_dir, KEY_FILE);
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *text = NULL;
    gboolean exists;
    GStatBuf st;

    if (g_mkdir_with_parents(dir, 0700) < 0 ||
        (!(exists = g_stat(path, &st) == 0) && errno != ENOENT)) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot use %s: %s (set "
                    "state-dir to a writable directory)", path, g_strerror(e));
        return NULL;
    }
    if (exists) {
        if ((st.st_mode & 077) != 0) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                        "the URL signing key %s may be read by others (mode %03o); run chmod "
                        "600 on it, or remove it to make a new one", path,
                        (unsigned)(st.st_mode & 0777));
            return NULL;
        }
    } else if (!make_key(path, error)) {
        return NULL;
    }
    if (!g_file_get_contents(path, &text, NULL, error))
        return NULL;
    return http_signer_new(text, path, error);
}

static const char *op_of(HttpRouteId id)
{
    return id == HTTP_ROUTE_FILES_SIGNED_PUT ? "put" : "get";
}

guint http_signed_verify(HttpServer *srv, SoupServerMessage *msg, const HttpRoute *route,
                         GHashTable *query, const char **why)
{
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    const char *op = query ? g_hash_table_lookup(query, "op") : NULL;
    HttpSignedCheck c = HTTP_SIGNED_INVALID;

    /* A web page of any origin may use a URL it holds (a browser's upload
     * asks first with OPTIONS): the URL is the credential, and no cookie or
     * key goes with it. */
    soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
    if (route->id == HTTP_ROUTE_FILES_SIGNED_PREFLIGHT) {
        soup_message_headers_replace(h, "Access-Control-Allow-Methods", "GET, PUT");
        soup_message_headers_replace(h, "Access-Control-Allow-Headers", "Content-Type");
        soup_message_headers_replace(h, "Access-Control-Max-Age", "600");
        return 0;
    }
    if (query)
        c = http_signer_check(srv->signer, route->sandbox_id, op,
                              g_hash_table_lookup(query, "path"), g_hash_table_lookup(query, "exp"),
                              g_hash_table_lookup(query, "sig"), g_get_real_time() / G_USEC_PER_SEC);
    if (c == HTTP_SIGNED_INVALID)
        *why = "the signed URL is not valid: its signature does not match its sandbox, path, "
               "operation and expiry";
    else if (strcmp(op, op_of(route->id)) != 0)
        *why = strcmp(op, "get") == 0 ? "the signed URL grants GET only"
                                      : "the signed URL grants PUT only";
    else if (c == HTTP_SIGNED_EXPIRED)
        *why = "the signed URL has expired; ask for a new one";
    else
        return 0;
    return 403;
}

/* Where clients reach this server: public-url, else the Host the request
 * came to (when it is a plain host[:port]), else the listen address. */
static char *public_base(HttpRequest *r)
{
    const char *host = soup_message_headers_get_one(
        soup_server_message_get_request_headers(r->msg), "Host");
    gboolean plain = host && *host && strlen(host) <= 255;

    if (r->srv->cfg->public_url)
        return g_strdup(r->srv->cfg->public_url);
    for (const char *p = host; plain && *p; p++)
        plain = g_ascii_isalnum(*p) || strchr(".-:[]", *p);
    return g_strconcat("http://", plain ? host : r->srv->cfg->listen, NULL);
}

static void reply_url(HttpRequest *r, HttpRouteId signed_route)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL, *sig = NULL, *base = NULL, *escaped = NULL, *url = NULL;
    gint64 expires = 3600, exp;
    const char *op = op_of(signed_route);
    oc_sandbox *sb;

    if (!http_body_string(r->json, "path", &path, &error) ||
        !http_body_int(r->json, "expiresIn", 1, HTTP_SIGNED_MAX_EXPIRES, &expires, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    if (!path || path[0] != '/' || strlen(path) > MAX_PATH_LEN) {
        http_reply_error(r, 400, "'path' must be an absolute path in the sandbox (starting with "
                         "'/', at most %d bytes)", MAX_PATH_LEN);
        return;
    }
    sb = http_sandbox_open(r);
    if (!sb)
        return;
    oc_sandbox_unref(sb);
    exp = g_get_real_time() / G_USEC_PER_SEC + expires;
    sig = http_signer_sign(r->srv->signer, r->route.sandbox_id, op, path, exp);
    base = public_base(r);
    escaped = g_uri_escape_string(path, "/", FALSE);
    url = g_strdup_printf("%s/api/sandboxes/%s/files/signed?path=%s&op=%s&exp=%" G_GINT64_FORMAT
                          "&sig=%s", base, r->route.sandbox_id, escaped, op, exp, sig);
    http_reply_string_member(r, 200, "url", url);
}

/* The preflight's answer is its headers (http_signed_verify). */
void http_signed_preflight(HttpRequest *r)
{
    r->status = 204;
}

void http_files_download_url(HttpRequest *r)
{
    reply_url(r, HTTP_ROUTE_FILES_SIGNED_GET);
}

void http_files_upload_url(HttpRequest *r)
{
    reply_url(r, HTTP_ROUTE_FILES_SIGNED_PUT);
}
