/* bench-ours.c: the library side: exec, hibernate and wake, files and create
 * on library sandboxes (and, after the files, bench-stream.c's rows). */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "bench.h"

/* ---- watchdog ---- */

static gpointer watchdog_thread(gpointer data)
{
    BenchWatchdog *w = data;
    g_mutex_lock(&w->lock);
    while (!w->stop && g_cond_wait_until(&w->cond, &w->lock, w->deadline))
        ;
    if (!w->stop) {
        w->fired = TRUE;
        g_mutex_unlock(&w->lock);
        bench_note("watchdog: %s did not finish in time; killing the sandbox", w->what);
        oc_sandbox_kill(w->sb, 0, NULL);
        return NULL;
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

void bench_watchdog_arm(BenchWatchdog *w, oc_sandbox *sb, int secs, const char *what)
{
    memset(w, 0, sizeof *w);
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->sb = sb;
    w->what = what;
    w->deadline = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;
    w->thread = g_thread_new("watchdog", watchdog_thread, w);
}

/* Returns TRUE if the watchdog fired. */
static gboolean watchdog_disarm(BenchWatchdog *w)
{
    g_mutex_lock(&w->lock);
    w->stop = TRUE;
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
    g_thread_join(w->thread);
    gboolean fired = w->fired;
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    return fired;
}

gboolean bench_watched_ok(BenchWatchdog *wd, const char *what, int rc, oc_error *e, char **status)
{
    gboolean stuck = watchdog_disarm(wd);

    if (!stuck && rc == 0)
        return TRUE;
    g_autofree char *label = stuck ? g_strdup_printf("%s (stuck, killed by the watchdog)", what)
                                   : g_strdup(what);
    bench_report_oc(label, rc, e);
    *status = g_strdup_printf("%s %s", what, stuck ? "hung (killed by the watchdog)" : "failed");
    return FALSE;
}

/* ---- 4 (ours): hibernate and wake ---- */

/* A wake that waits for a cold boot still ends well inside this. */
#define POWER_LIMIT_S 300

/* N rounds of hibernate then wake, on the sandbox just exec'd in (so its
 * guest has touched about as much memory as the floor's fresh one).
 * Returns FALSE if the sandbox may be unusable afterwards. */
static gboolean ours_power(oc_sandbox *sb, virConnectPtr vc)
{
    BenchPower *p = bench_results.ours_power;
    oc_sandbox_info *info = NULL;
    oc_error *e = NULL;
    BenchWatchdog wd;
    int rc;

    if (oc_sandbox_info_get(&info, sb, NULL) == 0) {
        bench_results.ours_memory_mb = oc_sandbox_info_memory_mb(info);
        oc_sandbox_info_free(info);
    }
    virDomainPtr dom = virDomainLookupByName(vc, oc_sandbox_id(sb));
    for (int i = 0; i < opt_power_n; i++) {
        int kind = OC_WAKE_NONE;
        double a = bench_now();
        bench_watchdog_arm(&wd, sb, POWER_LIMIT_S, "oc_sandbox_hibernate");
        rc = oc_sandbox_hibernate(sb, 0, &e);
        double b = bench_now();
        if (!bench_watched_ok(&wd, "oc_sandbox_hibernate", rc, e, &bench_results.ours_power_status))
            break;
        bench_push(p->save_s, b - a);
        double image = dom ? bench_save_image_bytes(dom) : -1;
        if (image >= 0)
            bench_push(p->image_bytes, image);
        a = bench_now();
        bench_watchdog_arm(&wd, sb, POWER_LIMIT_S, "oc_sandbox_wake");
        rc = oc_sandbox_wake(sb, NULL, &kind, &e);
        b = bench_now();
        if (!bench_watched_ok(&wd, "oc_sandbox_wake", rc, e, &bench_results.ours_power_status))
            break;
        bench_push(p->restore_s, b - a);
        if (kind != OC_WAKE_RESTORED) {
            g_autofree char *old = bench_results.ours_wake_note;
            bench_results.ours_wake_note = g_strdup_printf("%s%swake #%d was %s", old ? old : "", old ? "; " : "",
                                                           i + 1, oc_wake_kind_name(kind));
            bench_note("ours: wake #%d was %s, not restored", i + 1, oc_wake_kind_name(kind));
        }
        bench_note("ours: hibernate #%d %.2f s (image %.1f MiB), wake %.2f s", i + 1,
                   g_array_index(p->save_s, double, i), image / MIB, b - a);
    }
    if (dom)
        virDomainFree(dom);
    return bench_results.ours_power_status == NULL;
}

/* ---- 1+2 (ours): exec and files on a library sandbox ---- */

gboolean bench_ours(oc_context *ctx, virConnectPtr vc)
{
    const char *meta[] = { bench_tag, "oc-test=bench", NULL };
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    oc_sandbox *sb = NULL;
    oc_error *e = NULL;
    g_autofree guint8 *data = NULL;
    int rc;

    so.metadata = meta;
    so.memory_mb = BENCH_MEMORY_MB;
    bench_note("ours: creating a sandbox");
    double t0 = bench_now();
    if ((rc = oc_sandbox_create(&sb, ctx, &so, &e)) != 0) {
        bench_report_oc("oc_sandbox_create", rc, e);
        bench_results.ours_status = g_strdup("oc_sandbox_create failed");
        return FALSE;
    }
    bench_note("ours: sandbox %s up in %.2f s", oc_sandbox_id(sb), bench_now() - t0);

    static const char *const noargs[] = { NULL };
    oc_exec_options argv_form = OC_EXEC_OPTIONS_INIT;
    argv_form.args = noargs;
    const oc_exec_options *forms[2] = { &argv_form, NULL };
    GArray *out[2] = { bench_results.ours_exec_ms, bench_results.ours_exec_sh_ms };

    for (int f = 0; f < 2; f++) {
        for (int i = 0; i < opt_exec_warmup + opt_exec_n; i++) {
            oc_exec_result *res = NULL;
            double a = bench_now();
            rc = oc_exec_run(&res, sb, "true", forms[f], &e);
            double b = bench_now();
            if (rc != 0) {
                bench_report_oc("oc_exec_run(true)", rc, e);
                e = NULL;
                bench_results.ours_status = g_strdup("oc_exec_run failed");
                goto out;
            }
            int code = oc_exec_result_exit_code(res);
            oc_exec_result_free(res);
            if (code != 0) {
                bench_note("ours: true exited %d", code);
                bench_results.ours_status = g_strdup("true did not exit 0");
                goto out;
            }
            if (i >= opt_exec_warmup)
                bench_push(out[f], (b - a) * 1000.0);
        }
    }
    bench_note("ours: exec true p50 %.2f ms (sh -c: %.2f ms)", bench_median(bench_results.ours_exec_ms),
               bench_median(bench_results.ours_exec_sh_ms));

    /* Before the files: 64 MiB through tmpfs would grow the save image. */
    if (opt_skip_power) {
        bench_results.ours_power_status = g_strdup("skipped");
    } else if (!ours_power(sb, vc)) {
        bench_results.ours_status = g_strdup_printf("files not measured: %s", bench_results.ours_power_status);
        goto out;
    }

    gsize len = (gsize)opt_file_mib << 20;
    data = bench_pattern(len, 1);
    const char *path = "/tmp/oc-bench.bin";
    /* generous: 1 MiB/s would still finish */
    int limit = 60 + opt_file_mib;
    BenchWatchdog wd;
    gboolean call_ok;
    for (int i = 0; i < opt_reps; i++) {
        double a = bench_now();
        bench_watchdog_arm(&wd, sb, limit, "oc_files_write");
        rc = oc_files_write(sb, path, data, len, 0, &e);
        double b = bench_now();
        call_ok = bench_watched_ok(&wd, "oc_files_write", rc, e, &bench_results.ours_status);
        e = NULL;
        if (!call_ok)
            goto out;
        bench_push(bench_results.ours_write_mibs, len / MIB / (b - a));
        void *back = NULL;
        size_t blen = 0;
        a = bench_now();
        bench_watchdog_arm(&wd, sb, limit, "oc_files_read");
        rc = oc_files_read(sb, path, &back, &blen, 0, &e);
        b = bench_now();
        call_ok = bench_watched_ok(&wd, "oc_files_read", rc, e, &bench_results.ours_status);
        e = NULL;
        if (!call_ok) {
            oc_free(back);
            goto out;
        }
        gboolean same = blen == len && memcmp(back, data, len) == 0;
        oc_free(back);
        if (!same) {
            bench_note("ours: oc_files_read returned %zu bytes that differ from what was written", blen);
            bench_results.ours_status = g_strdup("file read-back mismatch");
            goto out;
        }
        bench_push(bench_results.ours_read_mibs, len / MIB / (b - a));
    }
    oc_files_remove(sb, path, 0, NULL);
    bench_note("ours: write %.1f MiB/s, read %.1f MiB/s", bench_median(bench_results.ours_write_mibs),
               bench_median(bench_results.ours_read_mibs));

out:
    if (opt_skip_stream)
        bench_results.stream_status = g_strdup("skipped");
    else if (bench_results.ours_status)
        bench_results.stream_status = g_strdup_printf("not run: %s", bench_results.ours_status);
    else
        bench_stream_ours(sb);
    if ((rc = oc_sandbox_kill(sb, 0, &e)) != 0 && rc != OC_ENOTFOUND)
        bench_report_oc("oc_sandbox_kill", rc, e);
    else
        oc_error_free(e);
    oc_sandbox_unref(sb);
    return bench_results.ours_status == NULL;
}

/* ---- 3 (ours): create to first exec ---- */

double bench_ours_create_once(oc_context *ctx, double *create_s, char **origin)
{
    const char *meta[] = { bench_tag, "oc-test=bench", NULL };
    static const char *const noargs[] = { NULL };
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    oc_exec_options eo = OC_EXEC_OPTIONS_INIT;
    oc_sandbox *sb = NULL;
    oc_sandbox_info *info = NULL;
    oc_exec_result *res = NULL;
    oc_error *e = NULL;
    double result = -1;
    int rc;

    so.metadata = meta;
    eo.args = noargs;
    double t0 = bench_now();
    if ((rc = oc_sandbox_create(&sb, ctx, &so, &e)) != 0) {
        bench_report_oc("oc_sandbox_create", rc, e);
        return -1;
    }
    if (create_s)
        *create_s = bench_now() - t0;
    rc = oc_exec_run(&res, sb, "true", &eo, &e);
    double t1 = bench_now();
    if (rc != 0)
        bench_report_oc("oc_exec_run(true)", rc, e);
    else if (oc_exec_result_exit_code(res) != 0)
        bench_note("ours create: true exited %d", oc_exec_result_exit_code(res));
    else
        result = t1 - t0;
    if (origin && oc_sandbox_info_get(&info, sb, NULL) == 0)
        *origin = g_strdup(oc_sandbox_info_origin(info));
    oc_sandbox_info_free(info);
    oc_exec_result_free(res);
    e = NULL;
    double k0 = bench_now();
    if ((rc = oc_sandbox_kill(sb, 0, &e)) != 0)
        bench_report_oc("oc_sandbox_kill", rc, e);
    else
        bench_push(bench_results.ours_kill_s, bench_now() - k0);
    oc_sandbox_unref(sb);
    return result;
}
