/* context.c: the process's library context, for the Node binding (see
 * context.h).
 *
 * Jobs and sandboxes hold references of their own, so the module's
 * reference is kept for the life of the process: sandboxes handed to JS may
 * outlive any environment.  With a warm pool, though, the environment that
 * configured it drops that reference when it is torn down, so that the
 * pool stops and kills the sandboxes it holds ready once nothing else uses
 * the context (a later call, from another environment, opens a new one). */
#include "context.h"
#include "convert.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
/* guarded by ctx_lock */
static oc_context *ctx;
static bool configured;
static oc_context_options options = OC_CONTEXT_OPTIONS_INIT;
static char *opt_uri, *opt_state_dir, **opt_templates; /* what options points into */

int context_get(oc_context **out, oc_error **error)
{
    int rc = 0;

    pthread_mutex_lock(&ctx_lock);
    if (!ctx)
        rc = oc_context_new(&ctx, configured ? &options : NULL, error);
    *out = oc_context_ref(ctx);
    pthread_mutex_unlock(&ctx_lock);
    return rc;
}

/* An environment cleanup hook, on the main thread. */
static void drop_context(void *arg)
{
    pthread_mutex_lock(&ctx_lock);
    oc_context *c = ctx;
    ctx = NULL;
    pthread_mutex_unlock(&ctx_lock);
    oc_context_unref(c);
}

static void throw_code(napi_env env, int code, const char *message)
{
    napi_value m, e, c;

    if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &m) == napi_ok &&
        napi_create_error(env, NULL, m, &e) == napi_ok &&
        napi_create_int32(env, code, &c) == napi_ok && set_value(env, e, "code", c) == napi_ok)
        napi_throw(env, e);
}

static napi_status get_count(napi_env env, napi_value obj, const char *key, uint32_t *out)
{
    napi_value v;
    int64_t n = 0;
    bool has;
    napi_status s;

    if ((s = get_field(env, obj, key, &v)) != napi_ok ||
        (s = get_opt_int(env, v, &n, &has)) != napi_ok)
        return s;
    if (n < 0 || n > UINT32_MAX)
        return throw_type(env, "poolSize and poolMemoryMB must be integers from 0");
    *out = (uint32_t)n;
    return napi_ok;
}

napi_value js_configure(napi_env env, napi_callback_info info)
{
    static bool hooked;
    napi_value argv[1], v, out = NULL;
    uint32_t size = 0, memory_mb = 0;
    bool require_kvm = false;
    char *uri = NULL, *state_dir = NULL, **templates = NULL;
    bool open = false;
    napi_status s;

    if (get_args(env, info, 1, argv, NULL) != napi_ok)
        return NULL;
    if ((s = get_count(env, argv[0], "poolSize", &size)) == napi_ok &&
        (s = get_count(env, argv[0], "poolMemoryMB", &memory_mb)) == napi_ok &&
        (s = get_field(env, argv[0], "poolTemplates", &v)) == napi_ok &&
        (s = get_strv(env, v, false, &templates)) == napi_ok &&
        (s = get_field(env, argv[0], "uri", &v)) == napi_ok &&
        (s = get_opt_string(env, v, &uri)) == napi_ok &&
        (s = get_field(env, argv[0], "stateDir", &v)) == napi_ok &&
        (s = get_opt_string(env, v, &state_dir)) == napi_ok &&
        (s = get_field(env, argv[0], "requireKvm", &v)) == napi_ok)
        s = get_opt_bool(env, v, &require_kvm);
    if (s == napi_ok) {
        pthread_mutex_lock(&ctx_lock);
        open = ctx != NULL;
        if (!open) {
            /* swap: the old strings are freed below */
            char *u = opt_uri, *d = opt_state_dir, **t = opt_templates;
            opt_uri = uri, opt_state_dir = state_dir, opt_templates = templates;
            uri = u, state_dir = d, templates = t;
            options.uri = opt_uri;
            options.state_dir = opt_state_dir;
            options.pool_templates = (const char *const *)opt_templates;
            options.pool_size = size;
            options.pool_memory_mb = memory_mb;
            options.flags = require_kvm ? OC_CONTEXT_REQUIRE_KVM : 0;
            configured = true;
        }
        pthread_mutex_unlock(&ctx_lock);
        if (open)
            throw_code(env, OC_ESTATE, "the library context is open already: call configure() "
                                       "before any other call");
        else if (size > 0 && !hooked)
            hooked = napi_add_env_cleanup_hook(env, drop_context, NULL) == napi_ok;
    }
    free(uri);
    free(state_dir);
    strv_free(templates);
    if (s != napi_ok || open)
        return NULL;
    napi_get_undefined(env, &out);
    return out;
}
