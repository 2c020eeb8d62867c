/* ports.c: guest ports for the Node binding (see ports.h).  The listener is
 * served by the library's own threads, so a fetch() from this process's
 * event loop reaches it while the loop runs. */
#include "ports.h"

#include <stdio.h>
#include <stdlib.h>

/* The C API takes uint16_t: a port out of its range would wrap into another
 * port, so it is refused here with the library's code for a bad argument.
 * The message lives in str2, which these calls do not use otherwise. */
static bool port_ok(job *j, int64_t n, int64_t low, const char *what)
{
    if (n >= low && n <= 65535)
        return true;
    free(j->str2);
    j->str2 = malloc(96);
    if (j->str2) {
        snprintf(j->str2, 96, "%s %lld: a port is %lld to 65535", what, (long long)n,
                 (long long)low);
        j->message = j->str2;
    }
    return false;
}

/* (handle, port, hostPort or nullish for any) */
static int run_expose(job *j, oc_error **error)
{
    int64_t host = j->has_num2 ? j->num2 : 0;

    if (!j->has_num || !port_ok(j, j->num, 1, "port") || !port_ok(j, host, 0, "hostPort"))
        return OC_EINVAL;
    return oc_sandbox_expose_port(j->sb, (uint16_t)j->num, (uint16_t)host, 0, &j->out_str, error);
}

static int run_unexpose(job *j, oc_error **error)
{
    if (!j->has_num || !port_ok(j, j->num, 1, "port"))
        return OC_EINVAL;
    return oc_sandbox_unexpose_port(j->sb, (uint16_t)j->num, 0, error);
}

static napi_status done_host(napi_env env, job *j, napi_value *out)
{
    return napi_create_string_utf8(env, j->out_str, NAPI_AUTO_LENGTH, out);
}

const export_spec port_exports[] = {
    { "exposePort", run_expose, done_host, { ARG_SANDBOX, ARG_OPT_INT, ARG_OPT_INT } },
    { "unexposePort", run_unexpose, NULL, { ARG_SANDBOX, ARG_OPT_INT } },
};

const size_t port_exports_count = sizeof(port_exports) / sizeof(port_exports[0]);
