/* job.c: the async machinery of the Node binding (see job.h): jobs on
 * libuv's thread pool that settle Promises, and the exports made from
 * tables of their arguments. */
#include "job.h"
#include "context.h"
#include "convert.h"
#include "network.h"

#include <limits.h>
#include <stdlib.h>

static void job_free(job *j)
{
    oc_sandbox_unref(j->sb);
    stream_unref(j->st);
    shell_unref(j->shb);
    oc_error_free(j->error);
    free(j->str1);
    free(j->str2);
    strv_free(j->strv1);
    strv_free(j->strv2);
    job_network_clear(&j->net);
    free(j->data);
    oc_sandbox_unref(j->out_sb);
    oc_free(j->out_str);
    oc_exec_result_free(j->result);
    oc_sandbox_info_free(j->info);
    oc_sandbox_list_free(j->list);
    oc_file_info_free(j->file);
    oc_file_list_free(j->files);
    oc_exec_session_list_free(j->sessions);
    oc_shell_close(j->shell);
    oc_checkpoint_free(j->checkpoint);
    oc_checkpoint_list_free(j->checkpoints);
    oc_template_info_free(j->tmpl);
    oc_template_list_free(j->tmpls);
    for (size_t i = 0; j->out_sbv && i < j->out_n; i++)
        oc_sandbox_unref(j->out_sbv[i]);
    oc_free(j->out_sbv);
    if (j->free_extra)
        j->free_extra(j->extra);
    oc_context_unref(j->ctx);
    free(j);
}

/* ---- the async machinery ---- */

static void job_execute(napi_env env, void *data)
{
    job *j = data;
    j->rc = j->run(j, &j->error);
}

/* Rejects with an Error carrying `code` (the OC_E* value); index.mjs turns
 * it into the matching SandboxError subclass. */
static napi_status error_value(napi_env env, job *j, napi_value *out)
{
    int code = j->error ? oc_error_code_of(j->error) : j->rc;
    const char *msg = j->error     ? oc_error_message(j->error)
                      : j->message ? j->message
                                   : oc_strerror(j->rc);
    napi_value m, c;
    napi_status s;

    if ((s = napi_create_string_utf8(env, msg ? msg : "error", NAPI_AUTO_LENGTH, &m)) != napi_ok ||
        (s = napi_create_error(env, NULL, m, out)) != napi_ok ||
        (s = napi_create_int32(env, code ? code : OC_EINTERNAL, &c)) != napi_ok)
        return s;
    return set_value(env, *out, "code", c);
}

static void job_complete(napi_env env, napi_status status, void *data)
{
    job *j = data;
    napi_value v = NULL;
    napi_status s;

    if (status != napi_ok)
        j->rc = OC_ECANCELLED;
    if (j->rc < 0) {
        s = error_value(env, j, &v);
        if (s == napi_ok)
            napi_reject_deferred(env, j->deferred, v);
    } else {
        s = j->done ? j->done(env, j, &v) : napi_get_undefined(env, &v);
        if (s == napi_ok) {
            napi_resolve_deferred(env, j->deferred, v);
        } else {
            /* a conversion failed (out of memory, a pending exception) */
            napi_value exc;
            bool pending = false;
            napi_is_exception_pending(env, &pending);
            if (pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok)
                napi_reject_deferred(env, j->deferred, exc);
            else if (napi_create_string_utf8(env, "conversion failed", NAPI_AUTO_LENGTH, &v) ==
                         napi_ok &&
                     napi_create_error(env, NULL, v, &exc) == napi_ok)
                napi_reject_deferred(env, j->deferred, exc);
        }
    }
    napi_delete_async_work(env, j->work);
    job_free(j);
}

napi_value job_start(napi_env env, job *j, napi_status prep)
{
    napi_value promise = NULL, name;

    if (prep == napi_ok &&
        napi_create_promise(env, &j->deferred, &promise) == napi_ok &&
        napi_create_string_utf8(env, "opencomputer", NAPI_AUTO_LENGTH, &name) == napi_ok &&
        napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work) ==
            napi_ok &&
        napi_queue_async_work(env, j->work) == napi_ok)
        return promise;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending)
        napi_throw_error(env, NULL, "could not start the call");
    if (j->work)
        napi_delete_async_work(env, j->work);
    /* a created promise is left pending; nothing awaits it since we throw */
    job_free(j);
    return NULL;
}

job *job_new(napi_env env, job_run_fn run, job_done_fn done)
{
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    j->run = run;
    j->done = done;
    return j;
}

job *job_new_extra(napi_env env, napi_callback_info info, size_t n, napi_value *argv,
                   job_run_fn run, job_done_fn done, size_t size,
                   void (*free_extra)(void *extra))
{
    job *j;

    if (get_args(env, info, n, argv, NULL) != napi_ok || !(j = job_new(env, run, done)))
        return NULL;
    if (!(j->extra = calloc(1, size))) {
        job_free(j);
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    j->free_extra = free_extra;
    return j;
}

int job_context(job *j, oc_error **error)
{
    return context_get(&j->ctx, error);
}

uint32_t u32_arg(int64_t n)
{
    return n < 0 || n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int int_arg(int64_t n)
{
    return n < INT_MIN ? INT_MIN : n > INT_MAX ? INT_MAX : (int)n;
}

/* ---- table exports ---- */

typedef struct {
    int str, strv, num; /* how many of each are taken */
} slots;

static napi_status get_arg(napi_env env, job *j, arg_kind kind, napi_value v, slots *n)
{
    bool b = false;
    napi_status s;

    switch (kind) {
    case ARG_SANDBOX:
        return get_sandbox(env, v, &j->sb);
    case ARG_STRING:
        return get_string(env, v, n->str++ ? &j->str2 : &j->str1);
    case ARG_OPT_STRING:
        return get_opt_string(env, v, n->str++ ? &j->str2 : &j->str1);
    case ARG_ARRAY:
    case ARG_PAIRS:
        return get_strv(env, v, kind == ARG_PAIRS, n->strv++ ? &j->strv2 : &j->strv1);
    case ARG_OPT_INT:
        return n->num++ ? get_opt_int(env, v, &j->num2, &j->has_num2)
                        : get_opt_int(env, v, &j->num, &j->has_num);
    case ARG_SECONDS:
        if ((s = get_opt_int(env, v, &j->num, &j->has_num)) == napi_ok &&
            (!j->has_num || j->num < 0 || j->num > UINT32_MAX))
            s = throw_type(env, "timeout must be a number of seconds (0: never)");
        return s;
    case ARG_OPT_BYTES:
        if (is_nullish(env, v))
            return napi_ok;
        /* fall through */
    case ARG_BYTES:
        return get_bytes(env, v, &j->data, &j->len);
    case ARG_RECURSIVE:
        s = is_nullish(env, v) ? napi_ok : napi_get_value_bool(env, v, &b);
        if (s == napi_boolean_expected)
            return throw_type(env, "expected a boolean");
        j->flags = b ? OC_FILES_RECURSIVE : 0;
        return s;
    case ARG_SESSION: {
        int64_t id = 0;
        if ((s = get_opt_int(env, v, &id, &b)) == napi_ok && (!b || id < 1 || id > UINT32_MAX))
            s = throw_type(env, "expected a session id (a positive integer)");
        j->session = (uint32_t)id;
        return s;
    }
    case ARG_STREAM:
        return get_stream(env, v, &j->st);
    case ARG_DISPATCH:
        return stream_new(env, v, &stream_exec_ops, &j->st);
    case ARG_AGENT_DISPATCH:
        return stream_new(env, v, &stream_agent_ops, &j->st);
    case ARG_SHELL:
        return get_shell(env, v, &j->shb);
    case ARG_NETWORK:
        return get_network(env, v, &j->net);
    case ARG_END:
        break;
    }
    return napi_ok;
}

static napi_value js_call(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    void *data;
    napi_status s = napi_ok;
    slots n = { 0, 0, 0 };
    job *j;

    if (get_args(env, info, MAX_ARGS, argv, &data) != napi_ok)
        return NULL;
    const export_spec *spec = data;
    if (!(j = job_new(env, spec->run, spec->done)))
        return NULL;
    for (size_t i = 0; s == napi_ok && i < MAX_ARGS && spec->args[i] != ARG_END; i++)
        s = get_arg(env, j, spec->args[i], argv[i], &n);
    return job_start(env, j, s);
}


napi_status define_exports(napi_env env, napi_value exports, const export_spec *table, size_t n)
{
    napi_status s = napi_ok;

    for (size_t i = 0; s == napi_ok && i < n; i++) {
        napi_property_descriptor p = { table[i].name, NULL, js_call, NULL, NULL, NULL,
                                       napi_enumerable, (void *)&table[i] };
        s = napi_define_properties(env, exports, 1, &p);
    }
    return s;
}
