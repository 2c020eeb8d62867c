/* oc_native.c: the Node binding's native half (N-API, NAPI_VERSION 8):
 * sandboxes, exec, shells and files; checkpoints are in checkpoint.c, ports
 * in ports.c, egress policies in network.c, templates in template.c, their
 * builds in build.c, agent sessions in agent.c.
 *
 * Thin on purpose: each export copies its JS arguments into a plain C job,
 * runs the blocking C call on libuv's thread pool and settles a Promise with
 * the converted result on the main thread (job.c).  index.mjs builds the
 * @opencomputer/sdk shape and the error classes on top.
 *
 * A sandbox handle is a napi external owning one oc_sandbox reference; a job
 * takes its own reference, so a handle collected mid-call stays valid.
 * Session handles (stream.c) and shells (shell.c) work the same way; sessions
 * deliver their output through a thread-safe function.
 */
#include "agent.h"
#include "build.h"
#include "checkpoint.h"
#include "network.h"
#include "ports.h"
#include "template.h"
#include "context.h"
#include "convert.h"
#include "job.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- sandboxes ---- */

static int run_create(job *j, oc_error **error)
{
    oc_sandbox_options opts = OC_SANDBOX_OPTIONS_INIT;
    int rc = job_context(j, error);

    if (rc < 0)
        return rc;
    opts.template_name = j->str1;
    if (j->has_num)
        opts.timeout_s = j->num;
    if (j->has_cpu_count)
        opts.cpu_count = j->cpu_count;
    if (j->has_memory_mb)
        opts.memory_mb = j->memory_mb;
    opts.envs = (const char *const *)j->strv1;
    opts.metadata = (const char *const *)j->strv2;
    oc_network_policy policy;
    opts.network = network_policy(&j->net, &policy);
    return oc_sandbox_create(&j->out_sb, j->ctx, &opts, error);
}

napi_status done_sandbox(napi_env env, job *j, napi_value *out)
{
    napi_status s = sandbox_value(env, j->out_sb, out);
    j->out_sb = NULL; /* the handle's, even on failure */
    return s;
}

/* create({template, timeout, cpuCount, memoryMB, envs, metadata, network}) */
static napi_value js_create(napi_env env, napi_callback_info info)
{
    napi_value v;
    int64_t n = 0;
    bool has;
    napi_value argv[1];
    napi_status s;
    job *j;

    if (get_args(env, info, 1, argv, NULL) != napi_ok ||
        !(j = job_new(env, run_create, done_sandbox)))
        return NULL;

    if ((s = get_field(env, argv[0], "template", &v)) == napi_ok &&
        (s = get_opt_string(env, v, &j->str1)) == napi_ok &&
        (s = get_field(env, argv[0], "timeout", &v)) == napi_ok &&
        (s = get_opt_int(env, v, &j->num, &j->has_num)) == napi_ok &&
        (s = get_field(env, argv[0], "cpuCount", &v)) == napi_ok &&
        (s = get_opt_int(env, v, &n, &has)) == napi_ok) {
        /* out of range values reach the C library, which says what is wrong;
         * UINT32_MAX stands for anything that does not fit */
        j->has_cpu_count = has;
        j->cpu_count = n < 0 || n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        if ((s = get_field(env, argv[0], "memoryMB", &v)) == napi_ok &&
            (s = get_opt_int(env, v, &n, &j->has_memory_mb)) == napi_ok)
            j->memory_mb = n < 0 || n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    }
    if (s == napi_ok && (s = get_field(env, argv[0], "envs", &v)) == napi_ok &&
        (s = get_strv(env, v, true, &j->strv1)) == napi_ok &&
        (s = get_field(env, argv[0], "metadata", &v)) == napi_ok &&
        (s = get_strv(env, v, true, &j->strv2)) == napi_ok &&
        (s = get_field(env, argv[0], "network", &v)) == napi_ok)
        s = get_network(env, v, &j->net);
    return job_start(env, j, s);
}

static int run_connect(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_sandbox_connect(&j->out_sb, j->ctx, j->str1, error);
}

static int run_list(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc
                  : oc_sandbox_list_get(&j->list, j->ctx, (const char *const *)j->strv1, 0, error);
}

static napi_status sandbox_item(napi_env env, const void *list, size_t i, napi_value *out)
{
    return info_value(env, oc_sandbox_list_at(list, i), out);
}

static napi_status done_list(napi_env env, job *j, napi_value *out)
{
    return array_value(env, j->list, oc_sandbox_list_count(j->list), sandbox_item, out);
}

static napi_value js_sandbox_id(napi_env env, napi_callback_info info)
{
    oc_sandbox *sb;
    napi_value argv[1], out;

    if (get_args(env, info, 1, argv, NULL) != napi_ok || get_sandbox(env, argv[0], &sb) != napi_ok)
        return NULL;
    napi_create_string_utf8(env, oc_sandbox_id(sb), NAPI_AUTO_LENGTH, &out);
    oc_sandbox_unref(sb);
    return out;
}

static int run_status(job *j, oc_error **error) { return oc_sandbox_status(j->sb, &j->out_int, error); }
static int run_is_running(job *j, oc_error **error) { return oc_sandbox_is_running(j->sb, &j->out_int, error); }
static int run_info(job *j, oc_error **error) { return oc_sandbox_info_get(&j->info, j->sb, error); }
static int run_kill(job *j, oc_error **error) { return oc_sandbox_kill(j->sb, 0, error); }
static int run_hibernate(job *j, oc_error **error) { return oc_sandbox_hibernate(j->sb, 0, error); }
static int run_reboot(job *j, oc_error **error) { return oc_sandbox_reboot(j->sb, 0, error); }
static int run_power_cycle(job *j, oc_error **error)
{
    return oc_sandbox_reboot(j->sb, OC_REBOOT_HARD, error);
}

static int run_set_timeout(job *j, oc_error **error)
{
    return oc_sandbox_set_timeout(j->sb, (uint32_t)j->num, 0, error);
}

static int run_wake(job *j, oc_error **error)
{
    oc_wake_options opts = OC_WAKE_OPTIONS_INIT;
    if (j->has_num)
        opts.timeout_s = j->num;
    return oc_sandbox_wake(j->sb, &opts, &j->out_int, error);
}

static napi_status done_state(napi_env env, job *j, napi_value *out)
{
    return napi_create_string_utf8(env, oc_sandbox_state_name(j->out_int), NAPI_AUTO_LENGTH, out);
}

napi_status done_bool(napi_env env, job *j, napi_value *out)
{
    return napi_get_boolean(env, j->out_int != 0, out);
}

static napi_status done_info(napi_env env, job *j, napi_value *out)
{
    return info_value(env, j->info, out);
}

static napi_status done_wake(napi_env env, job *j, napi_value *out)
{
    return napi_create_string_utf8(env, oc_wake_kind_name(j->out_int), NAPI_AUTO_LENGTH, out);
}

/* ---- exec ---- */

/* From (command, args, env, cwd, timeoutMs, ...) */
static oc_exec_options exec_options(const job *j)
{
    oc_exec_options opts = OC_EXEC_OPTIONS_INIT;

    opts.args = (const char *const *)j->strv1;
    opts.envs = (const char *const *)j->strv2;
    opts.cwd = j->str2;
    if (j->has_num)
        opts.timeout_ms = j->num;
    return opts;
}

static int run_exec(job *j, oc_error **error)
{
    oc_exec_options opts = exec_options(j);

    opts.stdin_data = j->data;
    opts.stdin_len = j->len;
    return oc_exec_run(&j->result, j->sb, j->str1, &opts, error);
}

static napi_status set_output(napi_env env, napi_value obj, const char *key,
                              const char *data, size_t len)
{
    napi_value v;
    napi_status s = napi_create_string_utf8(env, data, len, &v);
    return s == napi_ok ? set_value(env, obj, key, v) : s;
}

static napi_status done_exec(napi_env env, job *j, napi_value *out)
{
    const oc_exec_result *r = j->result;
    size_t olen, elen;
    const char *o = oc_exec_result_stdout(r, &olen), *e = oc_exec_result_stderr(r, &elen);
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_output(env, *out, "stdout", o, olen)) != napi_ok ||
        (s = set_output(env, *out, "stderr", e, elen)) != napi_ok ||
        (s = set_num(env, *out, "exitCode", oc_exec_result_exit_code(r))) != napi_ok ||
        (s = set_num(env, *out, "signal", oc_exec_result_signal(r))) != napi_ok ||
        (s = set_bool(env, *out, "timedOut", oc_exec_result_timed_out(r))) != napi_ok ||
        (s = set_bool(env, *out, "stdoutTruncated", oc_exec_result_stdout_truncated(r))) != napi_ok ||
        (s = set_bool(env, *out, "stderrTruncated", oc_exec_result_stderr_truncated(r))) != napi_ok)
        return s;
    return set_num(env, *out, "durationMs", oc_exec_result_duration_us(r) / 1e3);
}

/* ---- sessions ---- */

/* After a call that opened *h (or failed): the stream takes it.  h is a
 * pointer since the call's arguments may be evaluated in any order. */
static int opened(job *j, int rc, oc_exec_handle *const *h)
{
    stream_opened(j->st, rc == OC_OK ? *h : NULL);
    if (rc == OC_OK) {
        j->session = oc_exec_handle_session_id(*h);
        j->is_pty = oc_exec_handle_is_pty(*h) != 0;
    }
    return rc;
}

static int run_spawn(job *j, oc_error **error)
{
    oc_exec_options opts = exec_options(j);
    oc_exec_callbacks cb = stream_callbacks(j->st);
    oc_exec_handle *h = NULL;

    return opened(j, oc_exec_spawn(&h, j->sb, j->str1, &opts, &cb, error), &h);
}

static int run_attach(job *j, oc_error **error)
{
    oc_exec_callbacks cb = stream_callbacks(j->st);
    oc_exec_handle *h = NULL;

    return opened(j, oc_exec_attach(&h, j->sb, j->session, &cb, error), &h);
}

/* (cols, rows, shell, env, cwd) */
static int run_pty(job *j, oc_error **error)
{
    oc_pty_options opts = OC_PTY_OPTIONS_INIT;
    oc_exec_callbacks cb = stream_callbacks(j->st);
    oc_exec_handle *h = NULL;

    opts.cols = j->has_num ? u32_arg(j->num) : 0;
    opts.rows = j->has_num2 ? u32_arg(j->num2) : 0;
    opts.shell = j->str1;
    opts.envs = (const char *const *)j->strv1;
    opts.cwd = j->str2;
    return opened(j, oc_pty_create(&h, j->sb, &opts, &cb, error), &h);
}

napi_status done_stream(napi_env env, job *j, napi_value *out)
{
    napi_value handle;
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = stream_value(env, j->st, &handle)) != napi_ok ||
        (s = set_value(env, *out, "handle", handle)) != napi_ok ||
        (s = set_bool(env, *out, "isPty", j->is_pty)) != napi_ok)
        return s;
    return set_num(env, *out, "sessionId", j->session);
}

void *job_handle(job *j)
{
    void *h = stream_handle(j->st);
    if (!h)
        j->message = "this session has ended (or was closed): it takes no more calls";
    return h;
}

static napi_status session_item(napi_env env, const void *list, size_t i, napi_value *out)
{
    return session_value(env, oc_exec_session_list_at(list, i), out);
}

napi_status done_sessions(napi_env env, job *j, napi_value *out)
{
    return array_value(env, j->sessions, oc_exec_session_list_count(j->sessions), session_item,
                       out);
}

static int run_send_stdin(job *j, oc_error **error)
{
    oc_exec_handle *h = job_handle(j);
    return h ? oc_exec_send_stdin(h, j->data, j->len, error) : OC_ESTATE;
}

static int run_close_stdin(job *j, oc_error **error)
{
    oc_exec_handle *h = job_handle(j);
    return h ? oc_exec_close_stdin(h, error) : OC_ESTATE;
}

static int run_signal(job *j, oc_error **error)
{
    oc_exec_handle *h = job_handle(j);
    return h ? oc_exec_signal(h, j->has_num ? int_arg(j->num) : 9, error) : OC_ESTATE;
}

static int run_resize(job *j, oc_error **error)
{
    oc_exec_handle *h = job_handle(j);
    return h ? oc_exec_resize(h, u32_arg(j->num), u32_arg(j->num2), error) : OC_ESTATE;
}

static int run_exec_list(job *j, oc_error **error)
{
    return oc_exec_list(&j->sessions, j->sb, 0, error);
}

static int run_exec_kill(job *j, oc_error **error)
{
    return oc_exec_kill(j->sb, j->session, j->has_num ? int_arg(j->num) : 0, error);
}

/* execDetach(session handle): stops following, at once (no job). */
static napi_value js_detach(napi_env env, napi_callback_info info)
{
    napi_value argv[1], out = NULL;
    stream *s;

    if (get_args(env, info, 1, argv, NULL) != napi_ok || get_stream(env, argv[0], &s) != napi_ok)
        return NULL;
    stream_detach(s);
    stream_unref(s);
    napi_get_undefined(env, &out);
    return out;
}

/* ---- shells ---- */

/* (env, cwd) */
static int run_shell_open(job *j, oc_error **error)
{
    oc_shell_options opts = OC_SHELL_OPTIONS_INIT;

    opts.envs = (const char *const *)j->strv1;
    opts.cwd = j->str1;
    return oc_shell_open(&j->shell, j->sb, &opts, error);
}

static napi_status done_shell(napi_env env, job *j, napi_value *out)
{
    uint32_t session = oc_shell_session_id(j->shell);
    napi_value handle;
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok)
        return s;
    s = shell_value(env, j->shell, j->sb, &handle);
    j->shell = NULL; /* the handle's, even on failure */
    if (s != napi_ok || (s = set_value(env, *out, "handle", handle)) != napi_ok)
        return s;
    return set_num(env, *out, "sessionId", session);
}

/* (command, timeoutMs) */
static int run_shell_run(job *j, oc_error **error)
{
    return shell_box_run(j->shb, &j->result, j->str1,
                         j->has_num ? j->num : OC_TIMEOUT_DEFAULT, &j->message, error);
}

static int run_shell_close(job *j, oc_error **error)
{
    shell_box_close(j->shb);
    return OC_OK;
}

/* ---- files ---- */

static int run_read(job *j, oc_error **error)
{
    return oc_files_read(j->sb, j->str1, &j->data, &j->len, 0, error);
}

static int run_write(job *j, oc_error **error)
{
    return oc_files_write(j->sb, j->str1, j->data, j->len, 0, error);
}

static int run_stat(job *j, oc_error **error) { return oc_files_stat(&j->file, j->sb, j->str1, 0, error); }
static int run_exists(job *j, oc_error **error) { return oc_files_exists(j->sb, j->str1, &j->out_int, 0, error); }
static int run_list_dir(job *j, oc_error **error) { return oc_files_list(&j->files, j->sb, j->str1, 0, error); }
static int run_mkdir(job *j, oc_error **error) { return oc_files_mkdir(j->sb, j->str1, 0, error); }
static int run_remove(job *j, oc_error **error) { return oc_files_remove(j->sb, j->str1, j->flags, error); }
static int run_rename(job *j, oc_error **error) { return oc_files_rename(j->sb, j->str1, j->str2, 0, error); }

static void free_read_data(napi_env env, void *data, void *hint)
{
    oc_free(data);
}

static napi_status done_read(napi_env env, job *j, napi_value *out)
{
    /* hand the library's memory to the Buffer instead of copying it */
    napi_status s = napi_create_external_buffer(env, j->len, j->data, free_read_data, NULL, out);
    if (s == napi_ok) {
        j->data = NULL;
        return s;
    }
    s = napi_create_buffer_copy(env, j->len, j->data, NULL, out);
    oc_free(j->data);
    j->data = NULL;
    return s;
}

static napi_status done_stat(napi_env env, job *j, napi_value *out)
{
    return file_value(env, j->file, out);
}

static napi_status file_item(napi_env env, const void *list, size_t i, napi_value *out)
{
    return file_value(env, oc_file_list_at(list, i), out);
}

static napi_status done_list_dir(napi_env env, job *j, napi_value *out)
{
    return array_value(env, j->files, oc_file_list_count(j->files), file_item, out);
}

/* ---- the exports ----
 *
 * Every export but create, sandboxId, execDetach and configure is a row:
 * its JS arguments, in order, and the job functions (job.h). */

static const export_spec exports_table[] = {
    { "connect", run_connect, done_sandbox, { ARG_STRING } },
    { "list", run_list, done_list, { ARG_PAIRS } },
    { "status", run_status, done_state, { ARG_SANDBOX } },
    { "isRunning", run_is_running, done_bool, { ARG_SANDBOX } },
    { "info", run_info, done_info, { ARG_SANDBOX } },
    { "setTimeout", run_set_timeout, NULL, { ARG_SANDBOX, ARG_SECONDS } },
    { "hibernate", run_hibernate, NULL, { ARG_SANDBOX } },
    { "reboot", run_reboot, NULL, { ARG_SANDBOX } },
    { "powerCycle", run_power_cycle, NULL, { ARG_SANDBOX } },
    { "wake", run_wake, done_wake, { ARG_SANDBOX, ARG_OPT_INT } },
    { "kill", run_kill, NULL, { ARG_SANDBOX } },
    /* (handle, command, args, env, cwd, timeoutMs, stdin) */
    { "execRun", run_exec, done_exec,
      { ARG_SANDBOX, ARG_STRING, ARG_ARRAY, ARG_PAIRS, ARG_OPT_STRING, ARG_OPT_INT, ARG_OPT_BYTES } },
    /* (handle, command, args, env, cwd, timeoutMs, dispatch) */
    { "execSpawn", run_spawn, done_stream,
      { ARG_SANDBOX, ARG_STRING, ARG_ARRAY, ARG_PAIRS, ARG_OPT_STRING, ARG_OPT_INT, ARG_DISPATCH } },
    { "execAttach", run_attach, done_stream, { ARG_SANDBOX, ARG_SESSION, ARG_DISPATCH } },
    /* (handle, cols, rows, shell, env, cwd, dispatch) */
    { "ptyCreate", run_pty, done_stream,
      { ARG_SANDBOX, ARG_OPT_INT, ARG_OPT_INT, ARG_OPT_STRING, ARG_PAIRS, ARG_OPT_STRING,
        ARG_DISPATCH } },
    { "execList", run_exec_list, done_sessions, { ARG_SANDBOX } },
    /* (handle, session id, signal or nullish for SIGKILL) */
    { "execKill", run_exec_kill, NULL, { ARG_SANDBOX, ARG_SESSION, ARG_OPT_INT } },
    { "execSendStdin", run_send_stdin, NULL, { ARG_STREAM, ARG_BYTES } },
    { "execCloseStdin", run_close_stdin, NULL, { ARG_STREAM } },
    { "execSignal", run_signal, NULL, { ARG_STREAM, ARG_OPT_INT } },
    { "execResize", run_resize, NULL, { ARG_STREAM, ARG_OPT_INT, ARG_OPT_INT } },
    { "shellOpen", run_shell_open, done_shell, { ARG_SANDBOX, ARG_PAIRS, ARG_OPT_STRING } },
    /* (shell handle, command, timeoutMs) */
    { "shellRun", run_shell_run, done_exec, { ARG_SHELL, ARG_STRING, ARG_OPT_INT } },
    { "shellClose", run_shell_close, NULL, { ARG_SHELL } },
    { "filesRead", run_read, done_read, { ARG_SANDBOX, ARG_STRING } },
    { "filesWrite", run_write, NULL, { ARG_SANDBOX, ARG_STRING, ARG_BYTES } },
    { "filesStat", run_stat, done_stat, { ARG_SANDBOX, ARG_STRING } },
    { "filesExists", run_exists, done_bool, { ARG_SANDBOX, ARG_STRING } },
    { "filesList", run_list_dir, done_list_dir, { ARG_SANDBOX, ARG_STRING } },
    { "filesMkdir", run_mkdir, NULL, { ARG_SANDBOX, ARG_STRING } },
    { "filesRemove", run_remove, NULL, { ARG_SANDBOX, ARG_STRING, ARG_RECURSIVE } },
    { "filesRename", run_rename, NULL, { ARG_SANDBOX, ARG_STRING, ARG_STRING } },
};

static napi_value init(napi_env env, napi_value exports)
{
    napi_property_descriptor own[] = {
        { "create", NULL, js_create, NULL, NULL, NULL, napi_enumerable, NULL },
        { "sandboxId", NULL, js_sandbox_id, NULL, NULL, NULL, napi_enumerable, NULL },
        { "execDetach", NULL, js_detach, NULL, NULL, NULL, napi_enumerable, NULL },
        { "configure", NULL, js_configure, NULL, NULL, NULL, napi_enumerable, NULL },
    };

    if (napi_define_properties(env, exports, sizeof(own) / sizeof(own[0]), own) != napi_ok ||
        define_exports(env, exports, exports_table,
                       sizeof(exports_table) / sizeof(exports_table[0])) != napi_ok ||
        define_exports(env, exports, checkpoint_exports, checkpoint_exports_count) != napi_ok ||
        define_exports(env, exports, port_exports, port_exports_count) != napi_ok ||
        define_exports(env, exports, network_exports, network_exports_count) != napi_ok ||
        define_exports(env, exports, template_exports, template_exports_count) != napi_ok ||
        agent_define(env, exports) != napi_ok || build_define(env, exports) != napi_ok)
        return NULL;
    return exports;
}

NAPI_MODULE(oc_native, init)
