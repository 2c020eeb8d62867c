/* bench-load.c: oc-bench-load, the load and soak run.
 *
 *  1. warm-up:   one sandbox, one round of every operation on each of its
 *                streams, so that one-time allocations (libvirt connection,
 *                thread pools, caches) are made; then the baseline of this
 *                process's RSS and open file descriptors is taken.
 *  2. soak:      --sandboxes sandboxes x --streams concurrent exec streams for
 *                --duration seconds.  Each stream loops over exec.run, spawned
 *                sessions (lines and cat through stdin) and file writes and
 *                reads, every result checked (bench-load-ops.c).
 *  3. cycles:    --cycles create, exec (checked), kill rounds.
 *  4. the end:   with every sandbox killed, RSS and fds again.
 *
 * It passes with no failed call, no lost or crossed output, no hash
 * mismatch, no sandbox left and RSS and fds within 5% of the baseline; the
 * exit code is 1 otherwise.  Uses the public API only.
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-cli.h"
#include "bench-load.h"

#define LOAD_TOLERANCE 0.05
/* Lingering agent connections close 1 s after their last use. */
#define LOAD_SETTLE_US (3 * G_USEC_PER_SEC)
/* How long past the deadline the streams get to finish their round. */
#define LOAD_FINISH_GRACE_US (600 * G_USEC_PER_SEC)
#define LOAD_PROGRESS_US (30 * G_USEC_PER_SEC)

static int opt_duration = 600, opt_sandboxes = 8, opt_streams = 25, opt_cycles = 50;
static char *opt_json = NULL;
static gboolean opt_malloc_defaults = FALSE;

static GOptionEntry entries[] = {
    { "duration", 0, 0, G_OPTION_ARG_INT, &opt_duration, "Soak for S seconds (600)", "S" },
    { "sandboxes", 0, 0, G_OPTION_ARG_INT, &opt_sandboxes, "Sandboxes in the soak (8)", "N" },
    { "streams", 0, 0, G_OPTION_ARG_INT, &opt_streams, "Concurrent exec streams each (25)", "N" },
    { "cycles", 0, 0, G_OPTION_ARG_INT, &opt_cycles, "Create-exec-kill cycles (50)", "N" },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &opt_json, "Also write the results to FILE", "FILE" },
    { "malloc-defaults", 0, 0, G_OPTION_ARG_NONE, &opt_malloc_defaults,
      "Leave glibc's malloc thresholds and GLib's slice allocator as they are (RSS then keeps "
      "freed memory)", NULL },
    { NULL }
};

/* ---- this process's footprint ---- */

typedef struct {
    double rss_mib;         /* VmRSS after malloc_trim(0) */
    double rss_untrimmed_mib;
    double heap_mib;        /* malloc's bytes in use (mallinfo2), a leak's own measure */
    guint fds;
    guint threads;
} Usage;

static double status_field(const char *name)
{
    g_autofree char *text = NULL;
    double v = -1;

    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
        return -1;
    const char *p = strstr(text, name);
    if (p)
        sscanf(p + strlen(name), " %lf", &v);
    return v;
}

static guint count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    guint n = 0;

    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

/* glibc raises its mmap threshold to the size of each large block freed (up
 * to 32 MiB), and its trim threshold to twice that: after one 2 MiB buffer
 * is freed, each arena keeps up to 4 MiB of freed memory resident for good.
 * That hides what the library holds (a 30 s run: +8.5 MiB of RSS with
 * malloc's bytes in use unchanged).  So large blocks are always mapped (the
 * static default, 128 KiB, held fixed), and a thread arena gives back the
 * free pages at its top at once: malloc_trim() does that for the main arena
 * only, and up to 16 arenas would otherwise keep the trim threshold each. */
static void pin_malloc_thresholds(void)
{
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 0);
    /* One arena: with one per thread up to 16, the pages that a few live
     * blocks pin in each (malloc_trim() cannot give those back) came to
     * +1 MiB of RSS while malloc's bytes in use fell. */
    mallopt(M_ARENA_MAX, 1);
}

/* GLib 2.74's slice allocator (g_slice, under GHashTable, GArray, GSource,
 * GChecksum...) keeps the blocks it frees in per-thread magazines and a
 * global depot, trimmed only by later allocations: to malloc they stay in
 * use.  The full run ended with malloc's bytes in use at 1.74 MiB against
 * 0.68 MiB at the baseline, and LeakSanitizer found that memory in GLib's
 * caches, not in the library.  GLib reads G_SLICE when it starts, before
 * main(), so the program starts itself again with it set.  (GLib 2.76 and
 * later allocate slices with malloc anyway.) */
static void use_plain_slices(char **argv)
{
    if (g_strcmp0(g_getenv("G_SLICE"), "always-malloc") == 0)
        return;
    g_setenv("G_SLICE", "always-malloc", TRUE);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "oc-bench-load: cannot start again with G_SLICE=always-malloc (%s); "
            "malloc's bytes in use will include GLib's slice caches\n", g_strerror(errno));
}

/* Memory that malloc holds free is not a leak, but glibc gives it back to
 * the kernel only on request; both figures are kept. */
static Usage usage_now(void)
{
    Usage u;

    g_usleep(LOAD_SETTLE_US);
    u.rss_untrimmed_mib = status_field("VmRSS:") / 1024;
    malloc_trim(0);
    u.rss_mib = status_field("VmRSS:") / 1024;
    struct mallinfo2 mi = mallinfo2();
    u.heap_mib = (mi.uordblks + mi.hblkhd) / 1048576.0;
    u.fds = count_fds();
    u.threads = (guint)status_field("Threads:");
    return u;
}

/* ---- signals: the first one stops the run, which then cleans up ---- */

static LoadRun run;

static gpointer signal_thread(gpointer data)
{
    sigset_t *set = data;
    int sig;

    while (sigwait(set, &sig) == 0) {
        fprintf(stderr, "load: caught signal %d: stopping, then killing the sandboxes\n", sig);
        g_atomic_int_set(&run.stop, 1);
    }
    return NULL;
}

/* ---- sandboxes ---- */

static char *pid_tag;

static oc_sandbox *create_sandbox(oc_context *ctx, double *secs, oc_error **err)
{
    const char *metadata[] = { "oc-test=load", pid_tag, NULL };
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    oc_sandbox *sb = NULL;
    gint64 t0 = g_get_monotonic_time();

    o.metadata = metadata;
    o.timeout_s = 1800; /* gone by itself if this process dies */
    if (oc_sandbox_create(&sb, ctx, &o, err) < 0)
        return NULL;
    *secs = (g_get_monotonic_time() - t0) / 1e6;
    return sb;
}

/* Kills what is still listed under this run's tag; returns how many. */
static guint kill_leftovers(oc_context *ctx)
{
    const char *filter[] = { pid_tag, NULL };
    oc_sandbox_list *list = NULL;
    guint n = 0;

    if (oc_sandbox_list_get(&list, ctx, filter, 0, NULL) < 0)
        return 0;
    for (size_t i = 0; i < oc_sandbox_list_count(list); i++) {
        oc_sandbox *sb = NULL;
        const char *id = oc_sandbox_info_id(oc_sandbox_list_at(list, i));
        if (oc_sandbox_connect(&sb, ctx, id, NULL) == 0) {
            oc_sandbox_kill(sb, 0, NULL);
            n++;
        }
        oc_sandbox_unref(sb);
    }
    oc_sandbox_list_free(list);
    return n;
}

static void stream_init(LoadStream *st, oc_sandbox *sb, guint sandbox, guint stream)
{
    memset(st, 0, sizeof *st);
    st->run = &run;
    st->sb = sb;
    st->sandbox = sandbox;
    st->stream = stream;
    st->rand = g_rand_new_with_seed(g_random_int() ^ (sandbox * 1000 + stream));
}

/* ---- the soak ---- */

static void report_stuck(LoadStream *streams, guint n, gint64 now)
{
    for (guint i = 0; i < n; i++) {
        gint64 started = __atomic_load_n(&streams[i].op_started, __ATOMIC_RELAXED);
        if (started && now - started > LOAD_STUCK_US)
            fprintf(stderr, "load: sandbox %u stream %u: %s running for %.0f s\n",
                    streams[i].sandbox, streams[i].stream,
                    load_op_name(g_atomic_int_get(&streams[i].op)), (now - started) / 1e6);
    }
}

static gint64 total_ok(void)
{
    gint64 n = 0;
    for (int op = 0; op < LOAD_N_OPS; op++)
        n += __atomic_load_n(&run.counts[op][LOAD_OK], __ATOMIC_RELAXED);
    return n;
}

static gint running;

static gpointer soak_thread(gpointer data)
{
    load_stream_thread(data);
    g_atomic_int_dec_and_test(&running);
    return NULL;
}

/* Runs every stream until the deadline; FALSE if some never finished. */
static gboolean soak(LoadStream *streams, guint n)
{
    gint64 last = g_get_monotonic_time();

    g_atomic_int_set(&running, n);
    for (guint i = 0; i < n; i++)
        streams[i].thread = g_thread_new("load-stream", soak_thread, &streams[i]);
    while (g_atomic_int_get(&running) > 0) {
        gint64 now = g_get_monotonic_time();
        if (now > run.deadline + LOAD_FINISH_GRACE_US) {
            fprintf(stderr, "load: %d streams still busy %d s after the deadline\n",
                    g_atomic_int_get(&running), (int)(LOAD_FINISH_GRACE_US / G_USEC_PER_SEC));
            report_stuck(streams, n, G_MAXINT64);
            return FALSE;
        }
        if (now - last >= LOAD_PROGRESS_US) {
            fprintf(stderr, "load: %.0f s, %" G_GINT64_FORMAT " checked operations, %u failures, "
                    "RSS %.1f MiB, %u fds\n", (now - (run.deadline - run.duration_us)) / 1e6,
                    total_ok(), run.failures_total, status_field("VmRSS:") / 1024, count_fds());
            report_stuck(streams, n, now);
            last = now;
        }
        g_usleep(200 * 1000);
    }
    for (guint i = 0; i < n; i++)
        g_thread_join(streams[i].thread);
    return TRUE;
}

/* The warm-up: one round on each stream of the first sandbox, at once. */
static gpointer warm_thread(gpointer data)
{
    load_stream_round(data);
    return NULL;
}

static void warm_up(LoadStream *streams, guint n)
{
    for (guint i = 0; i < n; i++)
        streams[i].thread = g_thread_new("load-warm", warm_thread, &streams[i]);
    for (guint i = 0; i < n; i++)
        g_thread_join(streams[i].thread);
}

/* ---- create, exec, kill cycles ---- */

static int cmp_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(GArray *a)
{
    if (a->len == 0)
        return -1;
    g_array_sort(a, cmp_double);
    return g_array_index(a, double, a->len / 2);
}

static void cycles(oc_context *ctx, guint first_index, GArray *create_s, GArray *kill_s)
{
    for (int i = 0; i < opt_cycles && !g_atomic_int_get(&run.stop); i++) {
        LoadStream st;
        oc_error *err = NULL;
        double secs;
        oc_sandbox *sb = create_sandbox(ctx, &secs, &err);

        stream_init(&st, sb, first_index + i, 0);
        if (!sb) {
            load_fail(&run, &st, LOAD_CYCLE, LOAD_ERROR, "create: %s", oc_error_message(err));
            oc_error_free(err);
            load_stream_clear(&st);
            continue;
        }
        g_array_append_val(create_s, secs);
        load_exec_lines(&st);
        gint64 t0 = g_get_monotonic_time();
        if (oc_sandbox_kill(sb, 0, &err) < 0) {
            load_fail(&run, &st, LOAD_CYCLE, LOAD_ERROR, "kill: %s", oc_error_message(err));
            oc_error_free(err);
        } else {
            secs = (g_get_monotonic_time() - t0) / 1e6;
            g_array_append_val(kill_s, secs);
            load_count(&run, LOAD_CYCLE, LOAD_OK);
        }
        oc_sandbox_unref(sb);
        load_stream_clear(&st);
        if ((i + 1) % 10 == 0)
            fprintf(stderr, "load: %d cycles\n", i + 1);
    }
}

/* ---- report ---- */

static gboolean within(double end, double base)
{
    return end <= base * (1 + LOAD_TOLERANCE);
}

static const char *outcome_names[LOAD_N_OUTCOMES] = { "ok", "errors", "lost", "crossed", "hash" };

static void print_report(const Usage *base, const Usage *end, guint left, gboolean finished,
                         double soak_s, GArray *create_s, GArray *kill_s)
{
    printf("\n%-20s %9s %7s %7s %8s %7s\n", "operation", "ok", "errors", "lost", "crossed",
           "hash");
    for (int op = 0; op < LOAD_N_OPS; op++) {
        printf("%-20s", load_op_name(op));
        for (int o = 0; o < LOAD_N_OUTCOMES; o++)
            printf(" %*" G_GINT64_FORMAT, o == 0 ? 9 : o == 3 ? 8 : 7, run.counts[op][o]);
        printf("\n");
    }
    printf("\n%-28s %10s %10s %8s  %-22s %s\n", "metric", "baseline", "end", "change", "target",
           "result");
    printf("%-28s %10.1f %10.1f %+7.1f%%  %-22s %s\n", "host RSS MiB (trimmed)", base->rss_mib,
           end->rss_mib, 100 * (end->rss_mib / base->rss_mib - 1), "<= baseline + 5%",
           within(end->rss_mib, base->rss_mib) ? "PASS" : "FAIL");
    printf("%-28s %10u %10u %+7.1f%%  %-22s %s\n", "open fds", base->fds, end->fds,
           100 * ((double)end->fds / base->fds - 1), "<= baseline + 5%",
           within(end->fds, base->fds) ? "PASS" : "FAIL");
    printf("%-28s %10.1f %10.1f %+7.1f%%  %-22s %s\n", "host RSS MiB (untrimmed)",
           base->rss_untrimmed_mib, end->rss_untrimmed_mib,
           100 * (end->rss_untrimmed_mib / base->rss_untrimmed_mib - 1), "information", "-");
    printf("%-28s %10.1f %10.1f %+7.1f%%  %-22s %s\n", "malloc in use MiB", base->heap_mib,
           end->heap_mib, 100 * (end->heap_mib / base->heap_mib - 1), "information", "-");
    printf("%-28s %10u %10u %8s  %-22s %s\n", "threads", base->threads, end->threads, "",
           "information", "-");
    printf("%-28s %10s %10u %8s  %-22s %s\n", "sandboxes left", "", left, "", "0",
           left == 0 ? "PASS" : "FAIL");
    printf("%-28s %10s %10s %8s  %-22s %s\n", "streams finished", "", finished ? "all" : "no", "",
           "all", finished ? "PASS" : "FAIL");
    printf("\nsoak: %u sandboxes x %u streams for %.0f s, %.1f MiB of output and file bytes "
           "checked; cycles: %u of %d, create p50 %.2f s, kill p50 %.2f s\n", run.sandboxes,
           run.streams, soak_s, run.bytes_checked / 1048576.0, create_s->len, opt_cycles,
           median(create_s), median(kill_s));
    if (run.failures_total)
        printf("first failures (%u in all):\n", run.failures_total);
    for (guint i = 0; i < run.failures->len; i++)
        printf("  %s\n", (char *)run.failures->pdata[i]);
}

static char *json_report(const Usage *base, const Usage *end, guint left, gboolean pass,
                         double soak_s, GArray *create_s, GArray *kill_s)
{
    GString *j = g_string_new("{");

    g_string_append_printf(j, "\"duration_s\": %.1f, \"sandboxes\": %u, \"streams\": %u, "
                           "\"cycles\": %u, \"create_p50_s\": %.3f, \"kill_p50_s\": %.3f, "
                           "\"bytes_checked\": %" G_GINT64_FORMAT ", \"ops\": {",
                           soak_s, run.sandboxes, run.streams, create_s->len, median(create_s),
                           median(kill_s), run.bytes_checked);
    for (int op = 0; op < LOAD_N_OPS; op++) {
        g_string_append_printf(j, "%s\"%s\": {", op ? ", " : "", load_op_name(op));
        for (int o = 0; o < LOAD_N_OUTCOMES; o++)
            g_string_append_printf(j, "%s\"%s\": %" G_GINT64_FORMAT, o ? ", " : "",
                                   outcome_names[o], run.counts[op][o]);
        g_string_append(j, "}");
    }
    g_string_append_printf(j, "}, \"rss_mib\": [%.2f, %.2f], \"rss_untrimmed_mib\": [%.2f, %.2f], \"heap_mib\": [%.2f, %.2f], "
                           "\"fds\": [%u, %u], \"threads\": [%u, %u], \"sandboxes_left\": %u, "
                           "\"failures\": %u, \"malloc_pinned\": %s, \"pass\": %s}",
                           base->rss_mib, end->rss_mib, base->rss_untrimmed_mib,
                           end->rss_untrimmed_mib, base->heap_mib, end->heap_mib, base->fds, end->fds, base->threads,
                           end->threads, left, run.failures_total,
                           opt_malloc_defaults ? "false" : "true", pass ? "true" : "false");
    return g_string_free(j, FALSE);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    GError *gerr = NULL;
    oc_error *err = NULL;
    oc_context *ctx = NULL;
    double secs;

    if (!g_strv_contains((const char *const *)argv, "--malloc-defaults"))
        use_plain_slices(argv);

    if (!bench_cli_parse(entries, "- load and soak libopencomputer; see tests/bench/README.md",
                         "oc-bench-load", &argc, &argv))
        return 2;
    if (opt_duration < 1 || opt_sandboxes < 1 || opt_streams < 1 || opt_cycles < 0) {
        fprintf(stderr, "oc-bench-load: --duration, --sandboxes and --streams must be at least 1, "
                "--cycles at least 0\n");
        return 2;
    }
    if (!opt_malloc_defaults)
        pin_malloc_thresholds(); /* before any thread has an arena */
    bench_cli_signal_thread(signal_thread);
    g_mutex_init(&run.lock);
    run.failures = g_ptr_array_new_with_free_func(g_free);
    run.sandboxes = opt_sandboxes;
    run.streams = opt_streams;
    run.duration_us = (gint64)opt_duration * G_USEC_PER_SEC;
    pid_tag = g_strdup_printf("oc_load_pid=%d", (int)getpid());

    guint n = run.sandboxes * run.streams;
    LoadStream *streams = g_new0(LoadStream, n);
    oc_sandbox **sbs = g_new0(oc_sandbox *, run.sandboxes);
    g_autoptr(GArray) create_s = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(GArray) kill_s = g_array_new(FALSE, FALSE, sizeof(double));
    gboolean finished = TRUE, setup_ok = TRUE;
    double soak_s = 0;
    Usage base = { 0 }, end;

    if (oc_context_new(&ctx, NULL, &err) < 0) {
        fprintf(stderr, "oc-bench-load: %s\n", oc_error_message(err));
        return 2;
    }
    fprintf(stderr, "load: warm-up on one sandbox, %u streams\n", run.streams);
    for (guint k = 0; k < run.sandboxes && setup_ok && !g_atomic_int_get(&run.stop); k++) {
        if (!(sbs[k] = create_sandbox(ctx, &secs, &err))) {
            fprintf(stderr, "oc-bench-load: creating sandbox %u: %s\n", k, oc_error_message(err));
            setup_ok = FALSE;
            break;
        }
        for (guint s = 0; s < run.streams; s++)
            stream_init(&streams[k * run.streams + s], sbs[k], k, s);
        if (k == 0) {
            run.deadline = G_MAXINT64;
            warm_up(streams, run.streams);
            base = usage_now();
            fprintf(stderr, "load: baseline RSS %.1f MiB, %u fds; creating %u more sandboxes\n",
                    base.rss_mib, base.fds, run.sandboxes - 1);
        }
    }
    if (setup_ok && !g_atomic_int_get(&run.stop)) {
        fprintf(stderr, "load: soak, %u streams for %d s\n", n, opt_duration);
        gint64 t0 = g_get_monotonic_time();
        run.deadline = t0 + run.duration_us;
        finished = soak(streams, n);
        soak_s = (g_get_monotonic_time() - t0) / 1e6;
    }
    for (guint k = 0; k < run.sandboxes; k++) {
        if (sbs[k] && oc_sandbox_kill(sbs[k], 0, &err) < 0) {
            fprintf(stderr, "load: killing sandbox %u: %s\n", k, oc_error_message(err));
            g_clear_pointer(&err, oc_error_free);
        }
    }
    if (finished) {
        for (guint i = 0; i < n; i++)
            load_stream_clear(&streams[i]);
        for (guint k = 0; k < run.sandboxes; k++)
            oc_sandbox_unref(sbs[k]);
        fprintf(stderr, "load: %d create-exec-kill cycles\n", opt_cycles);
        cycles(ctx, run.sandboxes, create_s, kill_s);
    }
    guint left = kill_leftovers(ctx);
    end = usage_now();

    gboolean pass = setup_ok && finished && !g_atomic_int_get(&run.stop) && left == 0 &&
                    run.failures_total == 0 && within(end.rss_mib, base.rss_mib) &&
                    within(end.fds, base.fds);
    print_report(&base, &end, left, finished, soak_s, create_s, kill_s);
    g_autofree char *json = json_report(&base, &end, left, pass, soak_s, create_s, kill_s);
    if (opt_json && !g_file_set_contents(opt_json, json, -1, &gerr))
        fprintf(stderr, "oc-bench-load: %s\n", gerr->message);
    printf("%s\nJSON %s\n", pass ? "PASS" : "FAIL", json);
    if (!finished)
        _exit(1); /* threads are still in calls on the context */
    oc_context_unref(ctx);
    g_free(streams);
    g_free(sbs);
    g_ptr_array_unref(run.failures);
    g_free(pid_tag);
    return pass ? 0 : 1;
}
