/* oc-exec-stream.c: public entry points that follow a session: attach
 * handles, their callback thread, and PTY sessions.
 *
 * Each handle has one thread that pulls the attach's events and calls the
 * callbacks, so callbacks never run on the context's event thread (which
 * must never block) and always run one at a time, in order.  The thread
 * also keeps the sandbox's idle clock running while the handle is
 * attached.
 */
#include <string.h>

#include "core/activity.h"
#include "core/sandbox.h"
#include "oc-private.h"

/* How long an attach waits for the agent to accept it. */
#define ATTACH_TIMEOUT_MS 30000
/* How often an attached handle restarts the sandbox's idle clock. */
#define TOUCH_INTERVAL_US G_USEC_PER_SEC
/* How long a freed handle waits for the agent to confirm the detach: a
 * guest that never answers must not hang oc_exec_handle_free(). */
#define DETACH_WAIT_US (5 * G_USEC_PER_SEC)

struct oc_exec_handle {
    oc_sandbox *sb;
    CoreCall call;          /* holds the agent connection (not the busy lock) */
    AgentAttach *a;
    guint32 session;
    oc_exec_callbacks cb;
    GThread *thread;

    GMutex lock;            /* guards the fields below */
    GCond cond;
    gboolean ended;         /* on_end has returned (or was skipped) */
    gboolean closing;       /* freed: no more callbacks */
    gint64 closing_at;      /* when (monotonic) */
    gboolean self_free;     /* freed from a callback: the thread frees it */
    int status;
    int exit_code;
    char *message;
};

/* ---- the callback thread ---- */

static gboolean handle_closing(oc_exec_handle *h)
{
    g_mutex_lock(&h->lock);
    gboolean closing = h->closing;
    g_mutex_unlock(&h->lock);
    return closing;
}

/* Freed, and the agent has not confirmed the detach in DETACH_WAIT_US. */
static gboolean handle_gave_up(oc_exec_handle *h, gint64 now)
{
    g_mutex_lock(&h->lock);
    gboolean gave_up = h->closing && now - h->closing_at > DETACH_WAIT_US;
    g_mutex_unlock(&h->lock);
    return gave_up;
}

static void deliver(oc_exec_handle *h, const AgentEvent *ev)
{
    const oc_exec_callbacks *cb = &h->cb;

    if (ev->kind == AGENT_EVENT_REPLAY_END) {
        if (cb->on_replay_end)
            cb->on_replay_end(cb->user_data);
        return;
    }
    if (ev->skipped && cb->on_gap)
        cb->on_gap(ev->chan, ev->skipped, cb->user_data);
    if (ev->chan == 1 && cb->on_stdout) {
        cb->on_stdout((const char *)ev->data, ev->len, cb->user_data);
    } else if (ev->chan == 2 && cb->on_stderr) {
        cb->on_stderr((const char *)ev->data, ev->len, cb->user_data);
    }
}

/* Works out how the attach ended and tells on_end. */
static void finish(oc_exec_handle *h)
{
    AgentExecResult res;
    GError *err = NULL;
    int status = OC_OK, code = -1;

    switch (agent_attach_outcome(h->a, &res, &err)) {
    case AGENT_ATTACH_EXITED:
        code = res.exit_code;
        break;
    case AGENT_ATTACH_DETACHED:
        status = OC_ECANCELLED;
        err = g_error_new(OC_ERROR, OC_ECANCELLED, "sandbox %s: session %u: detached",
                          h->sb->id, h->session);
        break;
    case AGENT_ATTACH_FAILED:
        status = err->code;
        g_prefix_error(&err, "sandbox %s: ", h->sb->id);
        break;
    }
    if (!handle_closing(h) && h->cb.on_end)
        h->cb.on_end(status, code, h->cb.user_data);
    g_mutex_lock(&h->lock);
    h->status = status;
    h->exit_code = code;
    h->message = err ? g_strdup(err->message) : NULL;
    h->ended = TRUE;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
    g_clear_error(&err);
}

static void handle_destroy(oc_exec_handle *h);

static gpointer handle_thread(gpointer data)
{
    oc_exec_handle *h = data;
    gint64 touched = 0;

    for (;;) {
        gint64 now = g_get_monotonic_time();
        /* An attached watcher is activity, even while the process is quiet. */
        if (now - touched >= TOUCH_INTERVAL_US) {
            core_activity_touch(h->sb->ctx->state_dir, h->sb->id);
            touched = now;
        }
        AgentEvent *ev = agent_attach_next(h->a, now + TOUCH_INTERVAL_US);
        if (handle_gave_up(h, now)) {
            /* (a guest may also keep sending instead of ending) */
            agent_attach_event_free(h->a, ev);
            goto unanswered;
        }
        if (ev == NULL)
            continue;
        if (ev->kind == AGENT_EVENT_END) {
            agent_attach_event_free(h->a, ev);
            break;
        }
        if (!handle_closing(h))
            deliver(h, ev);
        agent_attach_event_free(h->a, ev);
    }
    finish(h);
unanswered:
    g_mutex_lock(&h->lock);
    gboolean self_free = h->self_free;
    g_mutex_unlock(&h->lock);
    if (self_free) {
        g_thread_unref(h->thread);
        handle_destroy(h);
    }
    return NULL;
}

/* ---- opening ---- */

static void handle_destroy(oc_exec_handle *h)
{
    agent_attach_free(h->a);
    core_call_end(h->sb, &h->call);
    oc_sandbox_unref(h->sb);
    g_free(h->message);
    g_mutex_clear(&h->lock);
    g_cond_clear(&h->cond);
    g_free(h);
}

static gboolean check_callbacks(const oc_exec_callbacks *cb, GError **error)
{
    if (cb && (cb->version < 1 || cb->version > OC_EXEC_CALLBACKS_VERSION)) {
        g_set_error(error, OC_ERROR, OC_EINVAL,
                    "oc_exec_callbacks version %u is not supported; set it to "
                    "OC_EXEC_CALLBACKS_VERSION", cb->version);
        return FALSE;
    }
    return TRUE;
}

/* Starts req as a session (if req is not NULL; else attaches to session)
 * and returns a handle following it. */
static oc_exec_handle *handle_open(oc_sandbox *sb, const AgentExecRequest *req, guint32 session,
                                   const oc_exec_callbacks *cb, GError **error)
{
    CoreCall call;
    AgentAttach *a = NULL;
    guint32 pid;

    if (!core_call_begin(sb, &call, error))
        return NULL;
    if (req == NULL || agent_session_start(call.conn, req, &session, &pid, error))
        a = agent_attach_open(call.conn, session, ATTACH_TIMEOUT_MS, error);
    /* The handle keeps the connection but not the busy lock: a hibernate
     * must not wait for a handle, it ends it. */
    core_activity_end(call.activity_fd);
    call.activity_fd = -1;
    if (a == NULL) {
        core_call_end(sb, &call);
        g_prefix_error(error, "sandbox %s: ", sb->id);
        return NULL;
    }
    oc_exec_handle *h = g_new0(oc_exec_handle, 1);
    h->sb = oc_sandbox_ref(sb);
    h->call = call;
    h->a = a;
    h->session = session;
    if (cb)
        h->cb = *cb;
    g_mutex_init(&h->lock);
    g_cond_init(&h->cond);
    h->thread = g_thread_new("oc-exec-handle", handle_thread, h);
    return h;
}

OC_API int oc_exec_attach(oc_exec_handle **out, oc_sandbox *sb, uint32_t session_id,
                          const oc_exec_callbacks *callbacks, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(out && sb, "oc_exec_attach: out and sb must not be NULL");
    CHECK_ARG(session_id > 0, "oc_exec_attach: session id 0 does not exist; ids start at 1");
    if (!check_callbacks(callbacks, &err) || !core_sandbox_check_alive(sb, &err) ||
        !(*out = handle_open(sb, NULL, session_id, callbacks, &err)))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_exec_spawn(oc_exec_handle **out, oc_sandbox *sb, const char *command,
                         const oc_exec_options *opts, const oc_exec_callbacks *callbacks,
                         oc_error **error)
{
    GError *err = NULL;
    ExecPrep prep = { 0 };

    CHECK_ARG(out, "oc_exec_spawn: out must not be NULL");
    if (check_callbacks(callbacks, &err) &&
        exec_prepare_session(&prep, "oc_exec_spawn", sb, command, opts, &err))
        *out = handle_open(sb, &prep.req, 0, callbacks, &err);
    exec_prep_clear(&prep);
    return err ? oc_error_propagate(error, err) : OC_OK;
}

/* ---- using a handle ---- */

OC_API uint32_t oc_exec_handle_session_id(const oc_exec_handle *h)
{
    return h ? h->session : 0;
}

OC_API int oc_exec_handle_is_pty(const oc_exec_handle *h)
{
    /* Known before the attach returned: the agent says so before any
     * output. */
    return h && agent_attach_is_pty(h->a);
}

/* The result of a call on the attach, as a public code.  (err is passed by
 * address: the call that sets it is another argument, evaluated in an
 * unspecified order.) */
static int attach_result(gboolean ok, GError **err, oc_error **error)
{
    return ok ? OC_OK : oc_error_propagate(error, *err);
}

OC_API int oc_exec_send_stdin(oc_exec_handle *h, const void *data, size_t len, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(h, "oc_exec_send_stdin: h must not be NULL");
    CHECK_ARG(data || len == 0, "oc_exec_send_stdin: data is NULL but len is %zu", len);
    return attach_result(agent_attach_write(h->a, data, len, 0, &err), &err, error);
}

OC_API int oc_exec_close_stdin(oc_exec_handle *h, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(h, "oc_exec_close_stdin: h must not be NULL");
    return attach_result(agent_attach_close_stdin(h->a, &err), &err, error);
}

OC_API int oc_exec_signal(oc_exec_handle *h, int signal, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(h, "oc_exec_signal: h must not be NULL");
    CHECK_ARG(signal >= 1 && signal <= 64, "oc_exec_signal: %d is not a signal number (1..64)",
              signal);
    return attach_result(agent_attach_signal(h->a, signal, &err), &err, error);
}

OC_API int oc_exec_resize(oc_exec_handle *h, uint32_t cols, uint32_t rows, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(h, "oc_exec_resize: h must not be NULL");
    CHECK_ARG(cols >= 1 && cols <= 4096 && rows >= 1 && rows <= 4096,
              "oc_exec_resize: %u x %u is not a terminal size; columns and rows are 1..4096",
              cols, rows);
    CHECK_ARG(oc_exec_handle_is_pty(h),
              "oc_exec_resize: session %u has no terminal; only PTY sessions (oc_pty_create) "
              "can be resized", h->session);
    return attach_result(agent_attach_resize(h->a, cols, rows, &err), &err, error);
}

OC_API int oc_exec_wait(oc_exec_handle *h, int64_t timeout_ms, int *exit_code, oc_error **error)
{
    gint64 deadline = timeout_ms < 0 ? 0 : g_get_monotonic_time() + timeout_ms * 1000;
    int status;

    CHECK_ARG(h, "oc_exec_wait: h must not be NULL");
    CHECK_ARG(g_thread_self() != h->thread,
              "oc_exec_wait: called from the handle's own callback, it would wait for itself");
    g_mutex_lock(&h->lock);
    while (!h->ended) {
        if (deadline == 0)
            g_cond_wait(&h->cond, &h->lock);
        else if (!g_cond_wait_until(&h->cond, &h->lock, deadline))
            break;
    }
    if (!h->ended) {
        g_mutex_unlock(&h->lock);
        GError *err = g_error_new(OC_ERROR, OC_ETIMEOUT, "session %u is still running after %"
                                  G_GINT64_FORMAT " ms", h->session, timeout_ms);
        return oc_error_propagate(error, err);
    }
    status = h->status;
    if (status == OC_OK && exit_code)
        *exit_code = h->exit_code;
    GError *err = status == OC_OK ? NULL : g_error_new_literal(OC_ERROR, status, h->message);
    g_mutex_unlock(&h->lock);
    return err ? oc_error_propagate(error, err) : OC_OK;
}

OC_API void oc_exec_detach(oc_exec_handle *h)
{
    if (h)
        agent_attach_detach(h->a);
}

OC_API void oc_exec_handle_free(oc_exec_handle *h)
{
    if (!h)
        return;
    g_mutex_lock(&h->lock);
    h->closing = TRUE;
    h->closing_at = g_get_monotonic_time();
    h->self_free = g_thread_self() == h->thread;
    g_mutex_unlock(&h->lock);
    agent_attach_detach(h->a);
    if (h->self_free)
        return; /* the thread frees it once the callback returns */
    g_thread_join(h->thread);
    handle_destroy(h);
}

/* ---- PTY sessions ---- */

#define PTY_DEFAULT_COLS 80
#define PTY_DEFAULT_ROWS 24

OC_API int oc_pty_options_init(oc_pty_options *opts, uint32_t version)
{
    if (!opts || version != OC_PTY_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_pty_options)OC_PTY_OPTIONS_INIT;
    return OC_OK;
}

OC_API int oc_pty_create(oc_exec_handle **out, oc_sandbox *sb, const oc_pty_options *opts,
                         const oc_exec_callbacks *callbacks, oc_error **error)
{
    static const oc_pty_options defaults = OC_PTY_OPTIONS_INIT;
    static const char *const login_shell[] = { "-l", NULL };
    GError *err = NULL;
    ExecPrep prep = { 0 };
    g_autofree char *command = NULL;
    g_autoptr(GPtrArray) envs = g_ptr_array_new();

    CHECK_ARG(out, "oc_pty_create: out must not be NULL");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_PTY_OPTIONS_VERSION,
              "oc_pty_options version %u is not supported; use OC_PTY_OPTIONS_INIT",
              opts->version);
    CHECK_ARG(opts->cols <= 4096 && opts->rows <= 4096,
              "oc_pty_create: %u x %u is not a terminal size; columns and rows are 1..4096 "
              "(0: the default 80 x 24)", opts->cols, opts->rows);
    CHECK_ARG(!opts->shell || *opts->shell,
              "oc_pty_create: the shell is empty; pass NULL for /bin/bash");
    /* The sandbox's envs, then TERM, then the caller's: later wins. */
    g_ptr_array_add(envs, (gpointer) "TERM=xterm-256color");
    for (size_t i = 0; opts->envs && opts->envs[i]; i++)
        g_ptr_array_add(envs, (gpointer)opts->envs[i]);
    g_ptr_array_add(envs, NULL);
    oc_exec_options eo = OC_EXEC_OPTIONS_INIT;
    eo.envs = (const char *const *)envs->pdata;
    eo.cwd = opts->cwd;
    eo.timeout_ms = 0;
    if (opts->shell) {
        /* A shell named by the caller may carry arguments ("bash --norc"). */
        command = g_strdup_printf("exec %s", opts->shell);
    } else {
        eo.args = login_shell;
    }
    if (exec_prepare_session(&prep, "oc_pty_create", sb, command ? command : "/bin/bash", &eo,
                             &err)) {
        prep.req.pty_cols = opts->cols ? opts->cols : PTY_DEFAULT_COLS;
        prep.req.pty_rows = opts->rows ? opts->rows : PTY_DEFAULT_ROWS;
        *out = handle_open(sb, &prep.req, 0, callbacks, &err);
    }
    exec_prep_clear(&prep);
    return err ? oc_error_propagate(error, err) : OC_OK;
}
