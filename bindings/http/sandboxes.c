/* sandboxes.c: cached sandbox handles and background wakes. */
#include "sandboxes.h"

struct HttpSandboxes {
    GMutex lock;
    GHashTable *handles; /* id -> oc_sandbox* (a reference) */
    GHashTable *waking;  /* ids with a background wake in progress */
    GCond woken;         /* signalled as each background wake ends */
};

static void unref_handle(gpointer sb)
{
    oc_sandbox_unref(sb);
}

HttpSandboxes *http_sandboxes_new(void)
{
    HttpSandboxes *s = g_new0(HttpSandboxes, 1);

    g_mutex_init(&s->lock);
    s->handles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       unref_handle);
    s->waking = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_cond_init(&s->woken);
    return s;
}

void http_sandboxes_free(HttpSandboxes *s)
{
    /* background wakes use s until they end: let them finish (seconds) */
    g_mutex_lock(&s->lock);
    while (g_hash_table_size(s->waking) > 0)
        g_cond_wait(&s->woken, &s->lock);
    g_mutex_unlock(&s->lock);
    g_cond_clear(&s->woken);
    g_hash_table_unref(s->handles);
    g_hash_table_unref(s->waking);
    g_mutex_clear(&s->lock);
    g_free(s);
}

void http_sandbox_remember(HttpServer *srv, oc_sandbox *sb)
{
    HttpSandboxes *s = srv->sandboxes;

    g_mutex_lock(&s->lock);
    g_hash_table_replace(s->handles, g_strdup(oc_sandbox_id(sb)), oc_sandbox_ref(sb));
    g_mutex_unlock(&s->lock);
}

oc_sandbox *http_sandbox_lookup(HttpServer *srv, const char *id, oc_error **err)
{
    HttpSandboxes *s = srv->sandboxes;
    oc_sandbox *sb;

    g_mutex_lock(&s->lock);
    sb = g_hash_table_lookup(s->handles, id);
    if (sb)
        oc_sandbox_ref(sb);
    g_mutex_unlock(&s->lock);
    if (sb)
        return sb;
    /* two requests may both connect; the second's handle replaces the first */
    if (oc_sandbox_connect(&sb, srv->ctx, id, err) < 0)
        return NULL;
    http_sandbox_remember(srv, sb);
    return sb;
}

oc_sandbox *http_sandbox_open(HttpRequest *r)
{
    oc_error *err = NULL;
    oc_sandbox *sb = http_sandbox_lookup(r->srv, r->route.sandbox_id, &err);

    if (!sb)
        http_reply_oc_error(r, err);
    return sb;
}

void http_sandbox_check_gone(HttpServer *srv, const char *id, int code)
{
    HttpSandboxes *s = srv->sandboxes;
    oc_error *err = NULL;
    oc_sandbox *sb;
    int state;

    /* a missing file or session is no reason to doubt the sandbox */
    if (code != OC_ENOTFOUND || !id)
        return;
    g_mutex_lock(&s->lock);
    sb = g_hash_table_lookup(s->handles, id);
    if (sb)
        oc_sandbox_ref(sb);
    g_mutex_unlock(&s->lock);
    if (!sb)
        return;
    if (oc_sandbox_status(sb, &state, &err) < 0 && oc_error_code_of(err) == OC_ENOTFOUND) {
        g_mutex_lock(&s->lock);
        /* unless another request has put a new handle there meanwhile */
        if (g_hash_table_lookup(s->handles, id) == sb)
            g_hash_table_remove(s->handles, id);
        g_mutex_unlock(&s->lock);
    }
    oc_error_free(err);
    oc_sandbox_unref(sb);
}

void http_sandbox_forget(HttpServer *srv, const char *id)
{
    HttpSandboxes *s = srv->sandboxes;

    g_mutex_lock(&s->lock);
    g_hash_table_remove(s->handles, id);
    g_mutex_unlock(&s->lock);
}

typedef struct {
    HttpSandboxes *s;
    oc_sandbox *sb;
} WakeJob;

static gpointer wake_thread(gpointer data)
{
    WakeJob *job = data;
    oc_error *err = NULL;

    /* a failed wake shows on the next call, which wakes again and fails
     * with the library's message */
    if (oc_sandbox_wake(job->sb, NULL, NULL, &err) < 0)
        oc_error_free(err);
    g_mutex_lock(&job->s->lock);
    g_hash_table_remove(job->s->waking, oc_sandbox_id(job->sb));
    g_cond_broadcast(&job->s->woken);
    g_mutex_unlock(&job->s->lock);
    oc_sandbox_unref(job->sb);
    g_free(job);
    return NULL;
}

gboolean http_sandbox_waking(HttpRequest *r, oc_sandbox *sb)
{
    HttpSandboxes *s = r->srv->sandboxes;
    g_autoptr(JsonBuilder) b = NULL;
    int state = 0;
    oc_error *err = NULL;

    if (!r->async_wake)
        return FALSE;
    if (oc_sandbox_status(sb, &state, &err) < 0) {
        oc_error_free(err); /* the call itself will report it */
        return FALSE;
    }
    if (state == OC_STATE_RUNNING)
        return FALSE;
    g_mutex_lock(&s->lock);
    if (!g_hash_table_contains(s->waking, oc_sandbox_id(sb))) {
        WakeJob *job = g_new0(WakeJob, 1);

        job->s = s;
        job->sb = oc_sandbox_ref(sb);
        g_hash_table_add(s->waking, g_strdup(oc_sandbox_id(sb)));
        g_thread_unref(g_thread_new("oc-wake", wake_thread, job));
    }
    g_mutex_unlock(&s->lock);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "waking");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
    http_reply_json(r, 503, json_builder_get_root(b));
    return TRUE;
}
