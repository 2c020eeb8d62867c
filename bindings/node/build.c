/* build.c: template builds and imports for the Node binding (see build.h).
 *
 * templateBuild(name, {dockerfile, steps, contextDir, buildArgs, parent,
 * cpuCount, memoryMB, stepTimeout}, onLog) resolves to the new template's
 * info (template.c).  steps are [{kind, args, chown, chmod, flags}] with the
 * library's numbers; index.mjs maps the names.  templateImport(name,
 * tarPath, {prepare}, onLog) resolves the same way.
 *
 * The library calls the log function on the build's (or import's) own
 * thread (a worker of the pool) during the call; each line is copied and queued for onLog,
 * blocking while the queue is full.  Before the job ends, the worker waits
 * until JS has taken every queued line, so the log is complete when the
 * Promise settles. */
#include "build.h"
#include "convert.h"
#include "job.h"
#include "template.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Log lines waiting for JS before the build's thread blocks. */
#define LOG_QUEUE_MAX 256

typedef struct {
    char *dockerfile, *context_dir, *parent;
    char **build_args;
    oc_build_step *steps;
    char ***step_args; /* step_count vectors the steps point into */
    char **step_chown;
    size_t step_count;
    int64_t cpu_count, memory_mb, step_timeout;
    bool has_cpu_count, has_memory_mb, has_step_timeout;
    bool prepare; /* an import's */

    napi_threadsafe_function log; /* NULL: no onLog */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool flushed; /* guarded by lock: the flush marker reached JS */
} build_args;

static void build_args_free(void *p)
{
    build_args *a = p;

    if (!a)
        return;
    if (a->log)
        napi_release_threadsafe_function(a->log, napi_tsfn_release);
    free(a->dockerfile);
    free(a->context_dir);
    free(a->parent);
    strv_free(a->build_args);
    for (size_t i = 0; i < a->step_count; i++) {
        strv_free(a->step_args[i]);
        free(a->step_chown[i]);
    }
    free(a->step_args);
    free(a->step_chown);
    free(a->steps);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a);
}

/* ---- the log ---- */

/* A queued line; NULL is the flush marker. */
static void log_to_js(napi_env env, napi_value on_log, void *context, void *data)
{
    build_args *a = context;
    napi_value line, undefined;

    if (!data) {
        pthread_mutex_lock(&a->lock);
        a->flushed = true;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        return;
    }
    /* env is NULL when the queue is emptied at teardown */
    if (env && napi_create_string_utf8(env, data, NAPI_AUTO_LENGTH, &line) == napi_ok &&
        napi_get_undefined(env, &undefined) == napi_ok)
        napi_call_function(env, undefined, on_log, 1, &line, NULL);
    free(data);
}

static void on_log(const char *line, void *user_data)
{
    build_args *a = user_data;
    char *copy = strdup(line);

    /* napi_closing: the environment is going away */
    if (copy && napi_call_threadsafe_function(a->log, copy, napi_tsfn_blocking) != napi_ok)
        free(copy);
}

/* The worker, after the build: waits until JS has every line. */
static void log_flush(build_args *a)
{
    if (napi_call_threadsafe_function(a->log, NULL, napi_tsfn_blocking) != napi_ok)
        return;
    pthread_mutex_lock(&a->lock);
    while (!a->flushed)
        pthread_cond_wait(&a->cond, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

/* The worker, after the build or import (rc): the log complete in JS, then
 * the template's info for done_template. */
static int logged_template(job *j, int rc, oc_error **error)
{
    build_args *a = j->extra;

    if (a->log)
        log_flush(a);
    return rc < 0 ? rc : oc_template_get(&j->tmpl, j->ctx, j->str1, error);
}

/* ---- the build ---- */

static int run_build(job *j, oc_error **error)
{
    build_args *a = j->extra;
    oc_template_build_options o = OC_TEMPLATE_BUILD_OPTIONS_INIT;
    int rc = job_context(j, error);

    if (rc < 0)
        return rc;
    o.dockerfile = a->dockerfile;
    o.context_dir = a->context_dir;
    o.build_args = (const char *const *)a->build_args;
    o.parent = a->parent;
    o.steps = a->steps;
    o.step_count = a->step_count;
    if (a->has_cpu_count)
        o.cpu_count = u32_arg(a->cpu_count);
    if (a->has_memory_mb)
        o.memory_mb = u32_arg(a->memory_mb);
    if (a->has_step_timeout)
        o.step_timeout_s = u32_arg(a->step_timeout);
    o.log = a->log ? on_log : NULL;
    o.log_user_data = a;
    return logged_template(j, oc_template_build(j->ctx, j->str1, &o, error), error);
}

/* steps[i]: {kind, args, chown, chmod, flags} */
static napi_status get_step(napi_env env, napi_value v, build_args *a, size_t i)
{
    oc_build_step *st = &a->steps[i];
    int64_t kind = 0, chmod = 0, flags = 0;
    bool has_kind, has_chmod, has_flags;
    const int_field ints[] = {
        { "kind", &kind, &has_kind }, { "chmod", &chmod, &has_chmod },
        { "flags", &flags, &has_flags },
    };
    const string_field strings[] = { { "chown", &a->step_chown[i] } };
    napi_value f;
    napi_status s;

    if ((s = get_int_fields(env, v, ints, sizeof(ints) / sizeof(ints[0]))) != napi_ok ||
        (s = get_string_fields(env, v, strings, 1)) != napi_ok ||
        (s = get_field(env, v, "args", &f)) != napi_ok ||
        (s = get_strv(env, f, false, &a->step_args[i])) != napi_ok)
        return s;
    /* unset or unknown kinds reach the library, which names the step */
    st->kind = u32_arg(kind);
    st->args = (const char *const *)a->step_args[i];
    st->chown = a->step_chown[i];
    st->chmod = u32_arg(chmod);
    st->flags = u32_arg(flags);
    return napi_ok;
}

static napi_status get_steps(napi_env env, napi_value v, build_args *a)
{
    napi_value item;
    uint32_t n;
    napi_status s;

    if (is_nullish(env, v))
        return napi_ok;
    if ((s = napi_get_array_length(env, v, &n)) != napi_ok)
        return s == napi_array_expected ? throw_type(env, "steps must be an array") : s;
    a->steps = calloc(n ? n : 1, sizeof(*a->steps));
    a->step_args = calloc(n ? n : 1, sizeof(*a->step_args));
    a->step_chown = calloc(n ? n : 1, sizeof(*a->step_chown));
    if (!a->steps || !a->step_args || !a->step_chown)
        return napi_generic_failure;
    for (uint32_t i = 0; i < n; i++) {
        a->step_count = i + 1; /* what build_args_free frees */
        if ((s = napi_get_element(env, v, i, &item)) != napi_ok ||
            (s = get_step(env, item, a, i)) != napi_ok)
            return s;
    }
    return napi_ok;
}

static napi_status get_log(napi_env env, napi_value fn, build_args *a)
{
    napi_value name;
    napi_valuetype t;
    napi_status s;

    if (is_nullish(env, fn))
        return napi_ok;
    if ((s = napi_typeof(env, fn, &t)) != napi_ok)
        return s;
    if (t != napi_function)
        return throw_type(env, "onLog must be a function");
    if ((s = napi_create_string_utf8(env, "opencomputer.build", NAPI_AUTO_LENGTH, &name)) !=
        napi_ok)
        return s;
    return napi_create_threadsafe_function(env, fn, NULL, name, LOG_QUEUE_MAX, 1, NULL, NULL, a,
                                           log_to_js, &a->log);
}

/* The job of a build or import, with its n arguments in argv; NULL with an
 * exception pending on failure. */
static job *logged_job_new(napi_env env, napi_callback_info info, size_t n, napi_value *argv,
                           job_run_fn run)
{
    job *j = job_new_extra(env, info, n, argv, run, done_template, sizeof(build_args),
                           build_args_free);
    build_args *a = j ? j->extra : NULL;

    if (a) {
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->cond, NULL);
    }
    return j;
}

static napi_value js_build(napi_env env, napi_callback_info info)
{
    napi_value argv[3], v;
    napi_status s;
    build_args *a;
    job *j;

    if (!(j = logged_job_new(env, info, 3, argv, run_build)))
        return NULL;
    a = j->extra;

    const string_field strings[] = {
        { "dockerfile", &a->dockerfile }, { "contextDir", &a->context_dir },
        { "parent", &a->parent },
    };
    const int_field ints[] = {
        { "cpuCount", &a->cpu_count, &a->has_cpu_count },
        { "memoryMB", &a->memory_mb, &a->has_memory_mb },
        { "stepTimeout", &a->step_timeout, &a->has_step_timeout },
    };
    if ((s = get_string(env, argv[0], &j->str1)) == napi_ok &&
        (s = get_string_fields(env, argv[1], strings, sizeof(strings) / sizeof(strings[0]))) ==
            napi_ok &&
        (s = get_int_fields(env, argv[1], ints, sizeof(ints) / sizeof(ints[0]))) == napi_ok &&
        (s = get_field(env, argv[1], "buildArgs", &v)) == napi_ok &&
        (s = get_strv(env, v, true, &a->build_args)) == napi_ok &&
        (s = get_field(env, argv[1], "steps", &v)) == napi_ok &&
        (s = get_steps(env, v, a)) == napi_ok)
        s = get_log(env, argv[2], a);
    return job_start(env, j, s);
}

/* ---- the import: the build's log machinery, around oc_template_import ---- */

static int run_import(job *j, oc_error **error)
{
    build_args *a = j->extra;
    oc_template_import_options o = OC_TEMPLATE_IMPORT_OPTIONS_INIT;
    int rc = job_context(j, error);

    if (rc < 0)
        return rc;
    o.prepare = a->prepare;
    o.log = a->log ? on_log : NULL;
    o.log_user_data = a;
    return logged_template(j, oc_template_import(j->ctx, j->str1, j->str2, &o, error), error);
}

static napi_value js_import(napi_env env, napi_callback_info info)
{
    napi_value argv[4], v;
    napi_status s;
    build_args *a;
    job *j;

    if (!(j = logged_job_new(env, info, 4, argv, run_import)))
        return NULL;
    a = j->extra;
    if ((s = get_string(env, argv[0], &j->str1)) == napi_ok &&
        (s = get_string(env, argv[1], &j->str2)) == napi_ok &&
        (s = get_field(env, argv[2], "prepare", &v)) == napi_ok &&
        (s = get_opt_bool(env, v, &a->prepare)) == napi_ok)
        s = get_log(env, argv[3], a);
    return job_start(env, j, s);
}

napi_status build_define(napi_env env, napi_value exports)
{
    napi_property_descriptor p[] = {
        { "templateBuild", NULL, js_build, NULL, NULL, NULL, napi_enumerable, NULL },
        { "templateImport", NULL, js_import, NULL, NULL, NULL, napi_enumerable, NULL },
    };
    return napi_define_properties(env, exports, sizeof(p) / sizeof(p[0]), p);
}
