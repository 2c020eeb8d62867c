/* oc-exec.c: public entry points of exec. */
#include <stddef.h>

#include "core/sandbox.h"
#include "oc-private.h"

struct oc_exec_result {
    AgentExecResult r;
};

/* How much of the struct each version has: a program built against an
 * older header passes a smaller struct, and only that much may be read or
 * written. */
static size_t exec_options_size(uint32_t version)
{
    switch (version) {
    case 1: return offsetof(oc_exec_options, user);
    case 2: return sizeof(oc_exec_options);
    default: return 0;
    }
}

OC_API int oc_exec_options_init(oc_exec_options *opts, uint32_t version)
{
    oc_exec_options defaults = OC_EXEC_OPTIONS_INIT;
    size_t size = exec_options_size(version);

    if (!opts || !size)
        return OC_EINVAL;
    defaults.version = version;
    memcpy(opts, &defaults, size);
    return OC_OK;
}

static gboolean check_env(const char *const *envs, GError **error)
{
    for (size_t i = 0; envs && envs[i]; i++) {
        const char *eq = strchr(envs[i], '=');
        if (!eq || eq == envs[i]) {
            g_set_error(error, OC_ERROR, OC_EINVAL,
                        "invalid envs entry '%s': expected KEY=VALUE", envs[i]);
            return FALSE;
        }
    }
    return TRUE;
}

void exec_prep_clear(ExecPrep *p)
{
    if (p->argv)
        g_ptr_array_unref(p->argv);
    g_strfreev(p->env);
    g_free(p->cwd);
    g_free(p->user);
}

gboolean exec_prepare(ExecPrep *p, const char *func, oc_sandbox *sb, const char *command,
                             const oc_exec_options *opts, guint default_timeout_ms,
                             GError **error)
{
    static const oc_exec_options defaults = OC_EXEC_OPTIONS_INIT;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            g_set_error(error, OC_ERROR, OC_EINVAL, __VA_ARGS__);          \
            return FALSE;                                                  \
        }                                                                  \
    } while (0)
    CHECK(sb != NULL, "%s: sb must not be NULL", func);
    CHECK(command && *command, "%s: the command is empty; pass a command line", func);
    if (!opts)
        opts = &defaults;
    CHECK(opts->version >= 1 && opts->version <= OC_EXEC_OPTIONS_VERSION,
          "oc_exec_options version %u is not supported; use OC_EXEC_OPTIONS_INIT", opts->version);
    CHECK(opts->timeout_ms >= OC_TIMEOUT_DEFAULT && opts->timeout_ms <= G_MAXUINT32,
          "exec timeout %" G_GINT64_FORMAT " ms is out of range: use 0 (none) to %u ms",
          (gint64)opts->timeout_ms, G_MAXUINT32);
    CHECK(opts->max_output <= OC_EXEC_MAX_OUTPUT_LIMIT,
          "max_output %zu is over the limit of %u bytes", opts->max_output,
          OC_EXEC_MAX_OUTPUT_LIMIT);
    const char *user = opts->version >= 2 ? opts->user : NULL;
    CHECK(!user || (*user && strlen(user) <= 129), "%s: user must be USER[:GROUP] of 1 to 129 "
          "bytes, or NULL for the sandbox's default", func);
#undef CHECK
    if (!check_env(opts->envs, error))
        return FALSE;

    if (opts->args) {
        p->argv = g_ptr_array_new();
        g_ptr_array_add(p->argv, (gpointer)command);
        for (size_t i = 0; opts->args[i]; i++)
            g_ptr_array_add(p->argv, (gpointer)opts->args[i]);
        g_ptr_array_add(p->argv, NULL);
        p->req.argv = (const char *const *)p->argv->pdata;
    } else {
        p->req.command = command;
    }
    p->env = core_sandbox_exec_env(sb, opts->envs);
    p->req.env = (const char *const *)p->env;
    /* A built template's WORKDIR and USER are the sandbox's defaults. */
    g_mutex_lock(&sb->lock);
    p->cwd = opts->cwd ? NULL : g_strdup(sb->record->workdir);
    p->user = g_strdup(user ? user : sb->record->user);
    g_mutex_unlock(&sb->lock);
    p->req.cwd = opts->cwd ? opts->cwd : p->cwd;
    p->req.user = p->user;
    p->req.timeout_ms = opts->timeout_ms == OC_TIMEOUT_DEFAULT ? default_timeout_ms
                                                                : (guint)opts->timeout_ms;
    p->req.stdin_data = opts->stdin_data;
    p->req.stdin_len = opts->stdin_len;
    p->req.max_output = opts->max_output ? opts->max_output : OC_EXEC_DEFAULT_MAX_OUTPUT;
    return TRUE;
}

/* A session operation as a call on the sandbox, with a public error. */
static int session_call(oc_sandbox *sb, CoreCallOp op, gpointer data, oc_error **error)
{
    GError *err = NULL;
    return core_call_run(sb, op, data, &err) ? OC_OK : oc_error_propagate(error, err);
}

typedef struct {
    ExecPrep prep;
    AgentExecResult res;
    guint32 id, pid;
} RunOp;

static gboolean op_run(AgentConn *conn, gpointer data, GError **error)
{
    RunOp *r = data;
    return agent_exec_run(conn, &r->prep.req, &r->res, error);
}

static gboolean op_start(AgentConn *conn, gpointer data, GError **error)
{
    RunOp *r = data;
    return agent_session_start(conn, &r->prep.req, &r->id, &r->pid, error);
}

oc_exec_result *exec_result_new(AgentExecResult *res)
{
    oc_exec_result *r = g_new0(oc_exec_result, 1);

    /* NUL-terminate for C callers; the terminator is not counted. */
    g_byte_array_append(res->out, (const guint8 *)"", 1);
    g_byte_array_set_size(res->out, res->out->len - 1);
    g_byte_array_append(res->err, (const guint8 *)"", 1);
    g_byte_array_set_size(res->err, res->err->len - 1);
    r->r = *res;
    memset(res, 0, sizeof(*res));
    return r;
}

OC_API int oc_exec_run(oc_exec_result **out, oc_sandbox *sb, const char *command,
                       const oc_exec_options *opts, oc_error **error)
{
    GError *err = NULL;
    RunOp r = { 0 };
    gboolean ok;

    CHECK_ARG(out, "oc_exec_run: out must not be NULL");
    ok = exec_prepare(&r.prep, "oc_exec_run", sb, command, opts, OC_EXEC_DEFAULT_TIMEOUT_MS,
                      &err) &&
         core_call_run(sb, op_run, &r, &err);
    exec_prep_clear(&r.prep);
    if (!ok)
        return oc_error_propagate(error, err);
    *out = exec_result_new(&r.res);
    return OC_OK;
}

OC_API int oc_exec_result_exit_code(const oc_exec_result *r) { return r->r.exit_code; }
OC_API int oc_exec_result_signal(const oc_exec_result *r) { return r->r.signal; }
OC_API int oc_exec_result_timed_out(const oc_exec_result *r) { return r->r.timed_out; }
OC_API int oc_exec_result_stdout_truncated(const oc_exec_result *r) { return r->r.out_truncated; }
OC_API int oc_exec_result_stderr_truncated(const oc_exec_result *r) { return r->r.err_truncated; }
OC_API uint64_t oc_exec_result_duration_us(const oc_exec_result *r) { return r->r.duration_us; }

OC_API const char *oc_exec_result_stdout(const oc_exec_result *r, size_t *len)
{
    if (len)
        *len = r->r.out->len;
    return (const char *)r->r.out->data;
}

OC_API const char *oc_exec_result_stderr(const oc_exec_result *r, size_t *len)
{
    if (len)
        *len = r->r.err->len;
    return (const char *)r->r.err->data;
}

OC_API void oc_exec_result_free(oc_exec_result *r)
{
    if (!r)
        return;
    agent_exec_result_clear(&r->r);
    g_free(r);
}

/* ---- background sessions ---- */

struct oc_exec_session_info {
    AgentSessionInfo *si;
    char *command; /* the command line, or argv joined by spaces */
};

struct oc_exec_session_list {
    GArray *items; /* of oc_exec_session_info */
};

gboolean exec_prepare_session(ExecPrep *p, const char *func, oc_sandbox *sb, const char *command,
                              const oc_exec_options *opts, GError **error)
{
    if (opts && (opts->stdin_data || opts->max_output)) {
        g_set_error(error, OC_ERROR, OC_EINVAL,
                    "%s: stdin_data and max_output do not apply to a session (its output is "
                    "kept in a %u-byte ring per stream); leave them unset", func,
                    OC_EXEC_SESSION_SCROLLBACK);
        return FALSE;
    }
    return exec_prepare(p, func, sb, command, opts, 0, error);
}

OC_API int oc_exec_start(uint32_t *session_id, oc_sandbox *sb, const char *command,
                         const oc_exec_options *opts, oc_error **error)
{
    GError *err = NULL;
    RunOp r = { 0 };
    gboolean ok;

    CHECK_ARG(session_id, "oc_exec_start: session_id must not be NULL");
    ok = exec_prepare_session(&r.prep, "oc_exec_start", sb, command, opts, &err) &&
         core_call_run(sb, op_start, &r, &err);
    exec_prep_clear(&r.prep);
    if (!ok)
        return oc_error_propagate(error, err);
    *session_id = r.id;
    return OC_OK;
}

static gboolean op_list(AgentConn *conn, gpointer data, GError **error)
{
    return agent_session_list(conn, data, error);
}

static void session_info_clear(gpointer p)
{
    oc_exec_session_info *i = p;
    agent_session_info_free(i->si);
    g_free(i->command);
}

OC_API int oc_exec_list(oc_exec_session_list **out, oc_sandbox *sb, uint32_t flags,
                        oc_error **error)
{
    GError *err = NULL;
    g_autoptr(GPtrArray) items = NULL;
    int rc;

    CHECK_ARG(out && sb, "oc_exec_list: out and sb must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_exec_list", &err))
        return oc_error_propagate(error, err);
    rc = session_call(sb, op_list, &items, error);
    if (rc != OC_OK)
        return rc;
    *out = g_new0(oc_exec_session_list, 1);
    (*out)->items = g_array_sized_new(FALSE, TRUE, sizeof(oc_exec_session_info), items->len);
    g_array_set_clear_func((*out)->items, session_info_clear);
    g_ptr_array_set_free_func(items, NULL); /* the list takes them */
    for (guint i = 0; i < items->len; i++) {
        AgentSessionInfo *si = items->pdata[i];
        oc_exec_session_info info = {
            .si = si,
            .command = si->argv ? g_strjoinv(" ", si->argv) : g_strdup(si->command ? si->command : ""),
        };
        g_array_append_val((*out)->items, info);
    }
    return OC_OK;
}

void exec_session_list_keep(oc_exec_session_list *l,
                            gboolean (*keep)(const oc_exec_session_info *si))
{
    for (guint i = l->items->len; i-- > 0;)
        if (!keep(&g_array_index(l->items, oc_exec_session_info, i)))
            g_array_remove_index(l->items, i);
}

OC_API size_t oc_exec_session_list_count(const oc_exec_session_list *l) { return l->items->len; }

OC_API const oc_exec_session_info *oc_exec_session_list_at(const oc_exec_session_list *l, size_t i)
{
    return i < l->items->len ? &g_array_index(l->items, oc_exec_session_info, i) : NULL;
}

OC_API void oc_exec_session_list_free(oc_exec_session_list *l)
{
    if (!l)
        return;
    g_array_unref(l->items);
    g_free(l);
}

OC_API uint32_t oc_exec_session_info_id(const oc_exec_session_info *i) { return i->si->id; }
OC_API uint32_t oc_exec_session_info_pid(const oc_exec_session_info *i) { return i->si->pid; }
OC_API int oc_exec_session_info_running(const oc_exec_session_info *i) { return i->si->running; }
OC_API int oc_exec_session_info_exit_code(const oc_exec_session_info *i) { return i->si->exit_code; }
OC_API int oc_exec_session_info_signal(const oc_exec_session_info *i) { return i->si->signal; }
OC_API int64_t oc_exec_session_info_started_at_ms(const oc_exec_session_info *i) { return i->si->started_ms; }
OC_API const char *oc_exec_session_info_command(const oc_exec_session_info *i) { return i->command; }

typedef struct {
    guint32 id;
    int sig;
} KillOp;

static gboolean op_kill(AgentConn *conn, gpointer data, GError **error)
{
    KillOp *k = data;
    return agent_session_kill(conn, k->id, k->sig, error);
}

OC_API int oc_exec_kill(oc_sandbox *sb, uint32_t session_id, int signal, oc_error **error)
{
    KillOp k = { session_id, signal };

    CHECK_ARG(sb, "oc_exec_kill: sb must not be NULL");
    CHECK_ARG(session_id > 0, "oc_exec_kill: session id 0 does not exist; ids start at 1");
    CHECK_ARG(signal >= 0 && signal <= 64,
              "oc_exec_kill: %d is not a signal number (0 for SIGKILL)", signal);
    return session_call(sb, op_kill, &k, error);
}
