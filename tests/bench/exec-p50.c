/* exec-p50.c: exec.run("true") latency of the C library on an existing
 * sandbox, for tests/bench/bindings (which compares the bindings with it on
 * the same sandbox, in the same run).
 *
 *   exec-p50 SANDBOX_ID N [shell]    prints {"p50_ms": ..., "n": N}
 *
 * With "shell" the command runs under /bin/sh -c, as the SDK's exec.run
 * sends it (tests/bench/http compares oc-server with that). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <glib.h>

#include "opencomputer.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *noargs[] = { NULL };
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_context *ctx = NULL;
    oc_sandbox *sb = NULL;
    oc_error *err = NULL;
    int n = argc >= 3 ? atoi(argv[2]) : 0;
    g_autoptr(GArray) ms = g_array_new(FALSE, FALSE, sizeof(double));

    if (n < 1) {
        fprintf(stderr, "usage: exec-p50 SANDBOX_ID N [shell]\n");
        return 2;
    }
    if (argc < 4 || g_strcmp0(argv[3], "shell") != 0)
        o.args = noargs;
    if (oc_context_new(&ctx, NULL, &err) < 0 || oc_sandbox_connect(&sb, ctx, argv[1], &err) < 0)
        goto fail;
    for (int i = -3; i < n; i++) { /* 3 warm-ups */
        oc_exec_result *r = NULL;
        double t0 = now_ms();
        if (oc_exec_run(&r, sb, "true", &o, &err) < 0)
            goto fail;
        double t = now_ms() - t0;
        oc_exec_result_free(r);
        if (i >= 0)
            g_array_append_val(ms, t);
    }
    g_array_sort(ms, cmp_double);
    printf("{\"p50_ms\": %.3f, \"n\": %d}\n", g_array_index(ms, double, n / 2), n);
    oc_sandbox_unref(sb);
    oc_context_unref(ctx);
    return 0;
fail:
    fprintf(stderr, "exec-p50: %s\n", oc_error_message(err));
    return 1;
}
