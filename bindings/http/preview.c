/* preview.c: preview URLs and preview tokens, kept per sandbox (see
 * preview.h).
 *
 * A sandbox's record: {"tokenSha256": hex or absent, "urls": [PreviewURL]}.
 * Only a hash of the token is kept: whoever reads the file cannot call the
 * sandbox's ports with it.  A plain SHA-256 suffices, as tokens are 256
 * random bits or at least 16 characters the caller chose, not passwords. */
#include "preview.h"
#include "config.h"
#include "route.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define TOKEN_MIN 16
#define TOKEN_MAX 256

struct HttpPreviews {
    GMutex lock;
    char *dir;
    GHashTable *by_id; /* sandbox id -> JsonObject (its record) */
};

char *http_previews_dir(const char *state_dir)
{
    return http_server_state_path(state_dir, "preview");
}

static void load_one(HttpPreviews *p, const char *name)
{
    g_autofree char *path = g_build_filename(p->dir, name, NULL);
    g_autofree char *id = g_strndup(name, strlen(name) - strlen(".json"));
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;

    if (!http_valid_name(id) || !json_parser_load_from_file(parser, path, NULL))
        return;
    root = json_parser_get_root(parser);
    if (root && JSON_NODE_HOLDS_OBJECT(root))
        g_hash_table_replace(p->by_id, g_steal_pointer(&id),
                             json_object_ref(json_node_get_object(root)));
}

HttpPreviews *http_previews_new(const char *dir, GError **error)
{
    g_autoptr(GDir) d = NULL;
    HttpPreviews *p;
    const char *name;

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot make the preview state directory %s: %s (set state-dir to a "
                    "writable directory)", dir, g_strerror(e));
        return NULL;
    }
    d = g_dir_open(dir, 0, error);
    if (!d)
        return NULL;
    p = g_new0(HttpPreviews, 1);
    g_mutex_init(&p->lock);
    p->dir = g_strdup(dir);
    p->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify)json_object_unref);
    while ((name = g_dir_read_name(d)))
        if (g_str_has_suffix(name, ".json") && name[0] != '.')
            load_one(p, name);
    return p;
}

void http_previews_free(HttpPreviews *p)
{
    if (!p)
        return;
    g_hash_table_unref(p->by_id);
    g_mutex_clear(&p->lock);
    g_free(p->dir);
    g_free(p);
}

/* Under the lock: the record of id, made empty when create is set. */
static JsonObject *record(HttpPreviews *p, const char *id, gboolean create)
{
    JsonObject *o = g_hash_table_lookup(p->by_id, id);

    if (!o && create) {
        o = json_object_new();
        json_object_set_array_member(o, "urls", json_array_new());
        g_hash_table_replace(p->by_id, g_strdup(id), o);
    }
    return o;
}

/* Under the lock: writes id's record (a temporary file, fsynced, renamed). */
static gboolean save(HttpPreviews *p, const char *id, GError **error)
{
    g_autofree char *path = g_strdup_printf("%s/%s.json", p->dir, id);
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;

    json_node_set_object(root, record(p, id, TRUE));
    text = json_to_string(root, TRUE);
    if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT |
                                  G_FILE_SET_CONTENTS_DURABLE, 0600, error)) {
        g_prefix_error(error, "cannot save the preview state of %s: ", id);
        return FALSE;
    }
    return TRUE;
}

gboolean http_previews_token_valid(const char *requested, GError **error)
{
    size_t n;

    if (!requested || strcmp(requested, "auto") == 0)
        return TRUE;
    n = strlen(requested);
    for (size_t i = 0; i < n; i++)
        if (requested[i] < 0x21 || requested[i] > 0x7e)
            n = 0;
    if (n < TOKEN_MIN || n > TOKEN_MAX) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "previewAuth.token must be \"auto\" or %d to %d printable ASCII characters "
                    "without spaces", TOKEN_MIN, TOKEN_MAX);
        return FALSE;
    }
    return TRUE;
}

char *http_random_token(GError **error)
{
    guint8 raw[32];
    size_t got = 0;

    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                        "cannot get random bytes: getrandom: %s", g_strerror(e));
            return NULL;
        }
        got += (size_t)n;
    }
    GString *s = g_string_sized_new(2 * sizeof raw);
    for (size_t i = 0; i < sizeof raw; i++)
        g_string_append_printf(s, "%02x", raw[i]);
    return g_string_free(s, FALSE);
}

static char *hash_of(const char *token)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
}

char *http_previews_set_token(HttpPreviews *p, const char *sandbox_id, const char *requested,
                              GError **error)
{
    g_autofree char *token = NULL, *hash = NULL;
    gboolean ok;

    if (!http_previews_token_valid(requested, error))
        return NULL;
    token = !requested || strcmp(requested, "auto") == 0 ? http_random_token(error) : g_strdup(requested);
    if (!token)
        return NULL;
    hash = hash_of(token);
    g_mutex_lock(&p->lock);
    json_object_set_string_member(record(p, sandbox_id, TRUE), "tokenSha256", hash);
    ok = save(p, sandbox_id, error);
    g_mutex_unlock(&p->lock);
    return ok ? g_steal_pointer(&token) : NULL;
}

HttpPreviewAccess http_previews_check(HttpPreviews *p, const char *sandbox_id, const char *given)
{
    g_autofree char *want = NULL, *got = NULL;
    JsonObject *o;
    unsigned char diff = 0;
    size_t n;

    g_mutex_lock(&p->lock);
    o = record(p, sandbox_id, FALSE);
    if (o && json_object_has_member(o, "tokenSha256"))
        want = g_strdup(json_object_get_string_member(o, "tokenSha256"));
    g_mutex_unlock(&p->lock);
    if (!want)
        return HTTP_PREVIEW_OPEN;
    if (!given)
        return HTTP_PREVIEW_DENIED;
    got = hash_of(given);
    n = strlen(want);
    diff = strlen(got) != n;
    for (size_t i = 0; i < n && got[i]; i++)
        diff |= (unsigned char)(want[i] ^ got[i]);
    return diff ? HTTP_PREVIEW_DENIED : HTTP_PREVIEW_GRANTED;
}

/* Under the lock: the index of id's URL for port, or -1. */
static int find_url(JsonArray *urls, guint port)
{
    for (guint i = 0; i < json_array_get_length(urls); i++) {
        JsonObject *u = json_array_get_object_element(urls, i);
        if (u && (guint)json_object_get_int_member_with_default(u, "port", 0) == port)
            return (int)i;
    }
    return -1;
}

JsonNode *http_previews_add(HttpPreviews *p, const char *sandbox_id, guint port,
                            const char *hostname, const char *custom_hostname,
                            JsonNode *auth_config, GError **error)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *id = NULL, *created = NULL, *uuid = g_uuid_string_random();
    JsonArray *urls;
    JsonObject *u;
    JsonNode *out = NULL;
    int at;

    g_mutex_lock(&p->lock);
    urls = json_object_get_array_member(record(p, sandbox_id, TRUE), "urls");
    at = find_url(urls, port);
    if (at >= 0) {
        out = json_node_copy(json_array_get_element(urls, (guint)at));
        g_mutex_unlock(&p->lock);
        return out;
    }
    id = g_strdup_printf("pv-%.8s", uuid);
    created = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    u = json_object_new();
    json_object_set_string_member(u, "id", id);
    json_object_set_string_member(u, "sandboxId", sandbox_id);
    json_object_set_string_member(u, "orgId", "");
    json_object_set_string_member(u, "hostname", hostname);
    if (custom_hostname)
        json_object_set_string_member(u, "customHostname", custom_hostname);
    json_object_set_int_member(u, "port", port);
    json_object_set_string_member(u, "sslStatus", "none");
    json_object_set_member(u, "authConfig", auth_config ? json_node_copy(auth_config)
                                                        : json_node_init_object(json_node_alloc(),
                                                                                json_object_new()));
    json_object_set_string_member(u, "createdAt", created);
    json_array_add_object_element(urls, u);
    if (save(p, sandbox_id, error)) {
        out = json_node_alloc();
        json_node_init_object(out, u);
    } else {
        json_array_remove_element(urls, json_array_get_length(urls) - 1);
    }
    g_mutex_unlock(&p->lock);
    return out;
}

JsonArray *http_previews_list(HttpPreviews *p, const char *sandbox_id)
{
    JsonArray *out = json_array_new();
    JsonObject *o;

    g_mutex_lock(&p->lock);
    o = record(p, sandbox_id, FALSE);
    if (o) {
        JsonArray *urls = json_object_get_array_member(o, "urls");
        for (guint i = 0; i < json_array_get_length(urls); i++)
            json_array_add_element(out, json_node_copy(json_array_get_element(urls, i)));
    }
    g_mutex_unlock(&p->lock);
    return out;
}

gboolean http_previews_remove(HttpPreviews *p, const char *sandbox_id, guint port, GError **error)
{
    JsonObject *o;
    gboolean found = FALSE;
    int at = -1;

    g_mutex_lock(&p->lock);
    o = record(p, sandbox_id, FALSE);
    if (o)
        at = find_url(json_object_get_array_member(o, "urls"), port);
    if (at >= 0) {
        json_array_remove_element(json_object_get_array_member(o, "urls"), (guint)at);
        found = save(p, sandbox_id, error);
    } else {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "sandbox %s has no preview URL for port %u", sandbox_id, port);
    }
    g_mutex_unlock(&p->lock);
    return found;
}

guint http_previews_sweep(HttpPreviews *p, oc_context *ctx)
{
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer id;
    guint gone = 0;

    g_mutex_lock(&p->lock);
    g_hash_table_iter_init(&it, p->by_id);
    while (g_hash_table_iter_next(&it, &id, NULL))
        g_ptr_array_add(ids, g_strdup(id));
    g_mutex_unlock(&p->lock);
    for (guint i = 0; i < ids->len; i++) {
        oc_sandbox *sb = NULL;
        oc_error *err = NULL;
        int rc = oc_sandbox_connect(&sb, ctx, ids->pdata[i], &err);
        if (rc == OC_ENOTFOUND) {
            http_previews_forget(p, ids->pdata[i]);
            gone++;
        }
        oc_sandbox_unref(sb);
        oc_error_free(err);
    }
    return gone;
}

void http_previews_forget(HttpPreviews *p, const char *sandbox_id)
{
    g_autofree char *path = g_strdup_printf("%s/%s.json", p->dir, sandbox_id);

    g_mutex_lock(&p->lock);
    g_hash_table_remove(p->by_id, sandbox_id);
    unlink(path);
    g_mutex_unlock(&p->lock);
}
