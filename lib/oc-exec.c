/* oc-exec.c: public entry points of exec. */
#include "core/sandbox.h"
#include "oc-private.h"

struct oc_exec_result {
    AgentExecResult r;
};

OC_API int oc_exec_options_init(oc_exec_options *opts, uint32_t version)
{
    if (!opts || version != OC_EXEC_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_exec_options)OC_EXEC_OPTIONS_INIT;
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

OC_API int oc_exec_run(oc_exec_result **out, oc_sandbox *sb, const char *command,
                       const oc_exec_options *opts, oc_error **error)
{
    static const oc_exec_options defaults = OC_EXEC_OPTIONS_INIT;
    GError *err = NULL;
    g_auto(GStrv) env = NULL;
    g_autoptr(GPtrArray) argv = NULL;
    AgentExecRequest req = { 0 };
    AgentExecResult res = { 0 };
    CoreCall call;
    gboolean ok;

    CHECK_ARG(out && sb, "oc_exec_run: out and sb must not be NULL");
    CHECK_ARG(command && *command, "oc_exec_run: the command is empty; pass a command line");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_EXEC_OPTIONS_VERSION,
              "oc_exec_options version %u is not supported; use OC_EXEC_OPTIONS_INIT", opts->version);
    CHECK_ARG(opts->timeout_ms >= OC_TIMEOUT_DEFAULT && opts->timeout_ms <= G_MAXUINT32,
              "exec timeout %" G_GINT64_FORMAT " ms is out of range: use 0 (none) to %u ms",
              (gint64)opts->timeout_ms, G_MAXUINT32);
    CHECK_ARG(opts->max_output <= OC_EXEC_MAX_OUTPUT_LIMIT,
              "max_output %zu is over the limit of %u bytes", opts->max_output, OC_EXEC_MAX_OUTPUT_LIMIT);
    if (!check_env(opts->envs, &err))
        return oc_error_propagate(error, err);

    if (opts->args) {
        argv = g_ptr_array_new();
        g_ptr_array_add(argv, (gpointer)command);
        for (size_t i = 0; opts->args[i]; i++)
            g_ptr_array_add(argv, (gpointer)opts->args[i]);
        g_ptr_array_add(argv, NULL);
        req.argv = (const char *const *)argv->pdata;
    } else {
        req.command = command;
    }
    env = core_sandbox_exec_env(sb, opts->envs);
    req.env = (const char *const *)env;
    req.cwd = opts->cwd;
    req.timeout_ms = opts->timeout_ms == OC_TIMEOUT_DEFAULT ? OC_EXEC_DEFAULT_TIMEOUT_MS
                                                             : (guint)opts->timeout_ms;
    req.stdin_data = opts->stdin_data;
    req.stdin_len = opts->stdin_len;
    req.max_output = opts->max_output ? opts->max_output : OC_EXEC_DEFAULT_MAX_OUTPUT;

    if (!core_call_begin(sb, &call, &err))
        return oc_error_propagate(error, err);
    ok = agent_exec_run(call.conn, &req, &res, &err);
    core_call_end(sb, &call);
    if (!ok) {
        g_prefix_error(&err, "sandbox %s: ", sb->id);
        return oc_error_propagate(error, err);
    }
    /* NUL-terminate for C callers; the terminator is not counted. */
    g_byte_array_append(res.out, (const guint8 *)"", 1);
    g_byte_array_set_size(res.out, res.out->len - 1);
    g_byte_array_append(res.err, (const guint8 *)"", 1);
    g_byte_array_set_size(res.err, res.err->len - 1);
    *out = g_new0(oc_exec_result, 1);
    (*out)->r = res;
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
