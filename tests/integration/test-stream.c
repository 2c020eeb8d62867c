/* test-stream.c: following sessions through the public API, against a real
 * guest: streamed output, stdin, reattach with scrollback, hibernate and
 * wake mid-session, PTY terminals, and floods.
 *
 * One sandbox serves every test (boots are slow under TCG); the suite kills
 * it at the end. */
#include <check.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "opencomputer.h"

static oc_context *ctx;
static oc_sandbox *sb;

static void setup_all(void)
{
    itest_sandbox_open(&ctx, &sb, "test-stream", NULL, 0);
}

static void teardown_all(void)
{
    itest_sandbox_close(ctx, sb);
}

/* ---- a recorder of callbacks ---- */

typedef struct {
    GMutex lock;
    GCond cond;
    GString *out, *err;
    gssize replay_end; /* stdout bytes before on_replay_end; -1: not yet */
    int replay_ends;
    gboolean ended;
    int status, exit_code;
    gboolean wrong_thread; /* a callback ran on the test's thread */
    guint slow_ms;     /* each stdout callback sleeps this long */
    guint stall_ms;    /* the first stdout callback sleeps this long */
    gboolean yes_only; /* stdout is `yes` output: check and count it, keep none */
    guint64 out_count; /* stdout bytes, with yes_only */
    gboolean yes_bad;  /* a byte of it was not where `yes` puts it */
    guint64 gap_bytes; /* stdout skipped, as on_gap said */
} Rec;

static GThread *test_thread;

/* Tests keep their Rec in static storage: a test that fails midway leaves
 * its handle alive, still delivering into its Rec, which must then not be
 * stack that the next test reuses (that corrupted later tests' output). */
static void rec_init(Rec *r)
{
    memset(r, 0, sizeof *r);
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    r->out = g_string_new(NULL);
    r->err = g_string_new(NULL);
    r->replay_end = -1;
}

static void rec_clear(Rec *r)
{
    g_string_free(r->out, TRUE);
    g_string_free(r->err, TRUE);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
}

static void rec_append(Rec *r, GString *s, const char *data, size_t len)
{
    g_mutex_lock(&r->lock);
    g_string_append_len(s, data, (gssize)len);
    r->wrong_thread |= g_thread_self() == test_thread;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

static void on_out(const char *data, size_t len, void *user_data)
{
    Rec *r = user_data;
    if (r->yes_only) {
        /* Kept out of memory: the test measures this process's RSS. */
        for (size_t i = 0; i < len; i++)
            r->yes_bad |= data[i] != ((r->out_count + i) % 2 ? '\n' : 'y');
        r->out_count += len;
    } else {
        rec_append(r, r->out, data, len);
    }
    if (r->slow_ms)
        g_usleep(r->slow_ms * 1000);
    if (r->stall_ms) {
        g_usleep(r->stall_ms * 1000);
        r->stall_ms = 0;
    }
}

static void on_err(const char *data, size_t len, void *user_data)
{
    Rec *r = user_data;
    rec_append(r, r->err, data, len);
}

static void on_replay_end(void *user_data)
{
    Rec *r = user_data;
    g_mutex_lock(&r->lock);
    r->replay_end = (gssize)r->out->len;
    r->replay_ends++;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

static void on_end(int status, int exit_code, void *user_data)
{
    Rec *r = user_data;
    g_mutex_lock(&r->lock);
    r->ended = TRUE;
    r->status = status;
    r->exit_code = exit_code;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

static void on_gap(int stream, uint64_t bytes, void *user_data)
{
    Rec *r = user_data;
    g_mutex_lock(&r->lock);
    ck_assert_int_eq(stream, 1);
    r->gap_bytes += bytes;
    g_mutex_unlock(&r->lock);
}

static oc_exec_callbacks rec_callbacks(Rec *r)
{
    oc_exec_callbacks cb = { OC_EXEC_CALLBACKS_VERSION, on_out,  on_err, on_replay_end,
                             on_end,                    r,       on_gap };
    return cb;
}

/* Waits until stdout contains needle (after offset from), or fails. */
static void rec_wait_out(Rec *r, const char *needle, gsize from, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
    g_mutex_lock(&r->lock);
    while (r->out->len < from || !strstr(r->out->str + from, needle)) {
        if (!g_cond_wait_until(&r->cond, &r->lock, deadline)) {
            g_mutex_unlock(&r->lock);
            ck_abort_msg("no '%s' in %d s; stdout so far: '%.300s'", needle, timeout_s,
                         r->out->str);
        }
    }
    g_mutex_unlock(&r->lock);
}

/* Checks that text is the lines first..last, each once, in order;
 * returns last. */
static int check_lines(const char *text, int first)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int n = 0;
    for (; lines[n] && *lines[n]; n++)
        ck_assert_msg(atoi(lines[n]) == first + n, "line %d is '%s', expected %d", n, lines[n],
                      first + n);
    return first + n - 1;
}

static int wait_exit(oc_exec_handle *h)
{
    int code = -1;
    OK(oc_exec_wait(h, 120000, &code, &e_));
    return code;
}

/* ---- tests ---- */

START_TEST(test_streamed_order)
{
    static Rec r; /* static: see rec_init */
    rec_init(&r);
    oc_exec_callbacks cb = rec_callbacks(&r);
    oc_exec_handle *h = NULL;

    /* a pause every 50 lines spreads the output over many reads without
     * 1000 sleeps (each a process, which a loaded TCG host makes slow) */
    OK(oc_exec_spawn(&h, sb, "for i in $(seq 1 1000); do echo $i; "
                     "[ $((i % 50)) -ne 0 ] || sleep 0.05; done; echo done >&2; exit 5", NULL,
                     &cb, &e_));
    ck_assert_uint_gt(oc_exec_handle_session_id(h), 0);
    ck_assert(!oc_exec_handle_is_pty(h));
    ck_assert_int_eq(wait_exit(h), 5);
    /* wait returns after on_end has: everything has been delivered */
    ck_assert(r.ended);
    ck_assert_int_eq(r.status, OC_OK);
    ck_assert_int_eq(r.exit_code, 5);
    ck_assert_int_eq(check_lines(r.out->str, 1), 1000);
    ck_assert_str_eq(r.err->str, "done\n");
    ck_assert_int_eq(r.replay_ends, 1);
    ck_assert(!r.wrong_thread);
    /* ended: input is refused with a clear error */
    FAILS(OC_ESTATE, oc_exec_send_stdin(h, "x", 1, &err), "has ended");
    oc_exec_handle_free(h);
    rec_clear(&r);
}
END_TEST

START_TEST(test_stdin_roundtrip)
{
    static Rec r; /* static: see rec_init */
    rec_init(&r);
    oc_exec_callbacks cb = rec_callbacks(&r);
    oc_exec_handle *h = NULL;
    const char *args[] = { NULL };
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    gsize n = 1024 * 1024;
    g_autofree guint8 *data = g_malloc(n);
    GRand *rand = g_rand_new_with_seed(7);

    for (gsize i = 0; i < n; i++)
        data[i] = (guint8)g_rand_int(rand);
    g_rand_free(rand);
    o.args = args;
    OK(oc_exec_spawn(&h, sb, "cat", &o, &cb, &e_));
    for (gsize off = 0, k; off < n; off += k) {
        k = MIN(n - off, 1 + (off * 7919) % 100000);
        OK(oc_exec_send_stdin(h, data + off, k, &e_));
    }
    OK(oc_exec_close_stdin(h, &e_));
    ck_assert_int_eq(wait_exit(h), 0);
    ck_assert_uint_eq(r.out->len, n);
    ck_assert(memcmp(r.out->str, data, n) == 0);
    oc_exec_handle_free(h);
    rec_clear(&r);
}
END_TEST

START_TEST(test_reattach)
{
    static Rec a, b; /* static: see rec_init */
    rec_init(&a);
    rec_init(&b);
    oc_exec_callbacks cba = rec_callbacks(&a), cbb = rec_callbacks(&b);
    oc_exec_handle *h = NULL;
    uint32_t id = 0;

    OK(oc_exec_start(&id, sb, "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done", NULL,
                     &e_));
    OK(oc_exec_attach(&h, sb, id, &cba, &e_));
    rec_wait_out(&a, "\n3\n", 0, 60);
    oc_exec_detach(h);
    FAILS(OC_ECANCELLED, oc_exec_wait(h, 60000, NULL, &err), "detached");
    ck_assert_int_eq(a.status, OC_ECANCELLED);
    oc_exec_handle_free(h);
    int seen = check_lines(a.out->str, 1);

    g_usleep(1500 * 1000); /* ~15 lines are missed meanwhile */
    OK(oc_exec_attach(&h, sb, id, &cbb, &e_));
    /* wait for a few live lines after the seam */
    g_mutex_lock(&b.lock);
    while (b.replay_end < 0)
        g_cond_wait(&b.cond, &b.lock);
    gsize seam = (gsize)b.replay_end;
    g_mutex_unlock(&b.lock);
    rec_wait_out(&b, "\n", seam + 30, 60);
    OK(oc_exec_signal(h, SIGTERM, &e_));
    ck_assert_int_eq(wait_exit(h), 128 + SIGTERM);
    /* The scrollback holds the missed lines (and the ones seen before),
     * then live ones follow with no gap and no repeat at the seam. */
    int last = check_lines(b.out->str, 1);
    g_autofree char *replayed = g_strndup(b.out->str, seam);
    int last_replayed = check_lines(replayed, 1);
    ck_assert_int_gt(last_replayed, seen + 5);
    ck_assert_int_gt(last, last_replayed);
    oc_exec_handle_free(h);
    rec_clear(&a);
    rec_clear(&b);
}
END_TEST

START_TEST(test_hibernate_mid_session)
{
    static Rec a, b; /* static: see rec_init */
    rec_init(&a);
    rec_init(&b);
    oc_exec_callbacks cba = rec_callbacks(&a), cbb = rec_callbacks(&b);
    oc_exec_handle *h = NULL;
    int kind = 0;

    OK(oc_exec_spawn(&h, sb, "i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo $i; sleep 0.1; "
                     "done; exit 9", NULL, &cba, &e_));
    uint32_t id = oc_exec_handle_session_id(h);
    rec_wait_out(&a, "\n2\n", 0, 60);
    OK(oc_sandbox_hibernate(sb, 0, &e_));
    /* The handle ends: the connection went with the VM. */
    oc_error *err = NULL;
    int rc = oc_exec_wait(h, 60000, NULL, &err);
    ck_assert_msg(rc != OC_OK && rc != OC_ETIMEOUT, "wait after hibernate: %d %s", rc,
                  oc_error_message(err));
    oc_error_free(err);
    oc_exec_handle_free(h);
    OK(oc_sandbox_wake(sb, NULL, &kind, &e_));

    OK(oc_exec_attach(&h, sb, id, &cbb, &e_));
    ck_assert_int_eq(wait_exit(h), 9);
    /* every line, from the scrollback and live, across the hibernate */
    ck_assert_int_eq(check_lines(b.out->str, 1), 60);
    oc_exec_handle_free(h);
    rec_clear(&a);
    rec_clear(&b);
}
END_TEST

/* Sends keys and waits for their output. */
static void pty_type(oc_exec_handle *h, Rec *r, const char *keys, const char *expect)
{
    gsize from = r->out->len;
    OK(oc_exec_send_stdin(h, keys, strlen(keys), &e_));
    rec_wait_out(r, expect, from, 60);
}

START_TEST(test_pty)
{
    static Rec r; /* static: see rec_init */
    rec_init(&r);
    oc_exec_callbacks cb = rec_callbacks(&r);
    oc_exec_handle *h = NULL;
    oc_pty_options o = OC_PTY_OPTIONS_INIT;

    o.cols = 120;
    o.rows = 30;
    OK(oc_pty_create(&h, sb, &o, &cb, &e_));
    ck_assert(oc_exec_handle_is_pty(h));
    /* (the echo of the typed line shows $((...)) unexpanded: the match is
     * the output) */
    pty_type(h, &r, "tty; echo \"term=$TERM\"; echo $((6*7))x\n", "42x");
    ck_assert_msg(strstr(r.out->str, "/dev/pts/"), "%s", r.out->str);
    ck_assert_msg(strstr(r.out->str, "term=xterm-256color"), "%s", r.out->str);
    pty_type(h, &r, "stty size\n", "30 120");
    OK(oc_exec_resize(h, 100, 40, &e_));
    pty_type(h, &r, "stty size\n", "40 100");
    FAILS(OC_EINVAL, oc_exec_resize(h, 0, 40, &err), "not a terminal size");
    pty_type(h, &r, "exit 3\n", "exit");
    ck_assert_int_eq(wait_exit(h), 3);
    ck_assert_str_eq(r.err->str, ""); /* a terminal has one output */
    oc_exec_handle_free(h);
    rec_clear(&r);

    /* kill() ends the shell */
    rec_init(&r);
    cb = rec_callbacks(&r);
    OK(oc_pty_create(&h, sb, NULL, &cb, &e_));
    pty_type(h, &r, "stty size\n", "24 80");
    OK(oc_exec_kill(sb, oc_exec_handle_session_id(h), 0, &e_));
    ck_assert_int_eq(wait_exit(h), 128 + SIGKILL);
    oc_exec_handle_free(h);
    rec_clear(&r);

    /* a session without a terminal cannot be resized */
    rec_init(&r);
    cb = rec_callbacks(&r);
    OK(oc_exec_spawn(&h, sb, "sleep 30", NULL, &cb, &e_));
    FAILS(OC_EINVAL, oc_exec_resize(h, 80, 24, &err), "has no terminal");
    OK(oc_exec_signal(h, SIGKILL, &e_));
    ck_assert_int_eq(wait_exit(h), 128 + SIGKILL);
    oc_exec_handle_free(h);
    rec_clear(&r);
}
END_TEST

START_TEST(test_pty_reattach)
{
    static Rec a, b; /* static: see rec_init */
    rec_init(&a);
    rec_init(&b);
    oc_exec_callbacks cba = rec_callbacks(&a), cbb = rec_callbacks(&b);
    oc_exec_handle *h = NULL;

    OK(oc_pty_create(&h, sb, NULL, &cba, &e_));
    uint32_t id = oc_exec_handle_session_id(h);
    pty_type(h, &a, "echo mark-$((1+1))\n", "mark-2");
    oc_exec_handle_free(h); /* detaches; the shell goes on */

    OK(oc_exec_attach(&h, sb, id, &cbb, &e_));
    ck_assert(oc_exec_handle_is_pty(h)); /* the agent says so on attach */
    rec_wait_out(&b, "mark-2", 0, 60); /* from the scrollback */
    OK(oc_exec_resize(h, 90, 20, &e_));
    pty_type(h, &b, "stty size\n", "20 90");
    /* ^D at an empty prompt: the shell exits.  (Typed before the prompt,
     * while the terminal is still in canonical mode for stty, it would be
     * taken there.) */
    rec_wait_out(&b, ":~# ", (gsize)(strstr(b.out->str, "20 90") - b.out->str), 60);
    OK(oc_exec_close_stdin(h, &e_));
    ck_assert_int_eq(wait_exit(h), 0);
    oc_exec_handle_free(h);
    rec_clear(&a);
    rec_clear(&b);
}
END_TEST

static long vm_rss_kib(const char *status_text)
{
    const char *p = strstr(status_text, "VmRSS:");
    return p ? atol(p + 6) : -1;
}

static long host_rss_kib(void)
{
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents("/proc/self/status", &text, NULL, NULL));
    return vm_rss_kib(text);
}

static long agent_rss_kib(void)
{
    g_autofree char *text = itest_sh(sb, "cat /proc/1/status");
    return vm_rss_kib(text);
}

START_TEST(test_flood)
{
    /* Nobody reads: the agent keeps 1 MiB per stream (OC_EXEC_SESSION_
     * SCROLLBACK) and drops the rest; the sandbox answers meanwhile. */
    uint32_t id = 0;
    long before = agent_rss_kib(), peak = before;
    OK(oc_exec_start(&id, sb, "yes | head -c 1G; echo finished >&2", NULL, &e_));
    gboolean running = TRUE;
    for (int i = 0; i < 600 && running; i++) {
        g_autofree char *out = itest_sh(sb, "echo alive");
        ck_assert_str_eq(out, "alive\n");
        peak = MAX(peak, agent_rss_kib());
        oc_exec_session_list *list = NULL;
        OK(oc_exec_list(&list, sb, 0, &e_));
        for (size_t k = 0; k < oc_exec_session_list_count(list); k++) {
            const oc_exec_session_info *si = oc_exec_session_list_at(list, k);
            if (oc_exec_session_info_id(si) == id)
                running = oc_exec_session_info_running(si);
        }
        oc_exec_session_list_free(list);
        g_usleep(200 * 1000);
    }
    ck_assert_msg(!running, "the flood did not finish in time");
    fprintf(stderr, "# agent VmRSS %ld KiB before, %ld KiB at most during a 1 GiB flood\n",
            before, peak);
    ck_assert_msg(peak - before < 2 * 1024 + 4096, "agent RSS grew by %ld KiB", peak - before);

    /* A reader that is slow but keeps reading holds the process back, as a
     * pipe would: nothing is lost, and the host holds at most the credit
     * for it. */
    static Rec r; /* static: see rec_init */
    rec_init(&r);
    r.slow_ms = 5;
    r.yes_only = TRUE;
    oc_exec_callbacks cb = rec_callbacks(&r);
    oc_exec_handle *h = NULL;
    const gsize total = 32u * 1024 * 1024;
    long host_before = host_rss_kib(), host_peak = host_before;
    OK(oc_exec_spawn(&h, sb, "yes | head -c 32M", NULL, &cb, &e_));
    int code = -1, rc;
    while ((rc = oc_exec_wait(h, 100, &code, NULL)) == OC_ETIMEOUT)
        host_peak = MAX(host_peak, host_rss_kib());
    ck_assert_int_eq(rc, OC_OK);
    ck_assert_int_eq(code, 0);
    fprintf(stderr, "# host VmRSS %ld KiB before, %ld KiB at most with a slow reader\n",
            host_before, host_peak);
    /* 2 x 4 MiB of credit, plus slack for the allocator */
    ck_assert_msg(host_peak - host_before < 24 * 1024, "host RSS grew by %ld KiB",
                  host_peak - host_before);
    ck_assert_uint_eq(r.gap_bytes, 0);
    ck_assert_uint_eq(r.out_count, total);
    ck_assert(!r.yes_bad);
    oc_exec_handle_free(h);
    rec_clear(&r);

    /* A reader that stops (its callback blocks) holds nothing back once
     * its credit is spent: it skips what the ring dropped and is told how
     * much, and the sandbox answers meanwhile. */
    rec_init(&r);
    r.stall_ms = 4000;
    cb = rec_callbacks(&r);
    OK(oc_exec_spawn(&h, sb, "yes | head -c 256M", NULL, &cb, &e_));
    g_autofree char *out = itest_sh(sb, "echo alive");
    ck_assert_str_eq(out, "alive\n");
    ck_assert_int_eq(wait_exit(h), 0);
    ck_assert_uint_lt(r.out->len, 256u * 1024 * 1024);
    ck_assert_uint_gt(r.gap_bytes, 0);
    ck_assert_uint_eq(r.out->len + r.gap_bytes, 256u * 1024 * 1024);
    oc_exec_handle_free(h);
    rec_clear(&r);
}
END_TEST

static void free_from_callback(const char *data, size_t len, void *user_data)
{
    oc_exec_handle **hp = user_data;
    oc_exec_handle_free(g_atomic_pointer_exchange(hp, NULL));
}

START_TEST(test_handle_misuse)
{
    oc_exec_callbacks bad = { 99, NULL, NULL, NULL, NULL, NULL };
    oc_exec_handle *h = NULL;

    FAILS(OC_ENOTFOUND, oc_exec_attach(&h, sb, 999999, NULL, &err), "no such session");
    FAILS(OC_EINVAL, oc_exec_attach(&h, sb, 0, NULL, &err), "ids start at 1");
    FAILS(OC_EINVAL, oc_exec_spawn(&h, sb, "true", NULL, &bad, &err), "version 99");
    oc_pty_options po = OC_PTY_OPTIONS_INIT;
    po.cols = 5000;
    FAILS(OC_EINVAL, oc_pty_create(&h, sb, &po, NULL, &err), "not a terminal size");

    /* No callbacks at all: wait still tells the end. */
    OK(oc_exec_spawn(&h, sb, "exit 2", NULL, NULL, &e_));
    ck_assert_int_eq(wait_exit(h), 2);
    oc_exec_handle_free(h);
    OK(oc_exec_spawn(&h, sb, "sleep 30", NULL, NULL, &e_));
    FAILS(OC_ETIMEOUT, oc_exec_wait(h, 100, NULL, &err), "still running");
    OK(oc_exec_signal(h, SIGKILL, &e_));
    ck_assert_int_eq(wait_exit(h), 128 + SIGKILL);
    oc_exec_handle_free(h);
}
END_TEST

START_TEST(test_free_in_callback)
{
    /* Freeing the handle from its own callback: no callback after it, no
     * crash, and the process goes on. */
    static oc_exec_handle *h;
    oc_exec_callbacks cb = { OC_EXEC_CALLBACKS_VERSION, free_from_callback, NULL, NULL, NULL, &h };
    oc_exec_handle *mine = NULL;

    OK(oc_exec_spawn(&mine, sb, "while :; do echo x; sleep 0.05; done", NULL, &cb, &e_));
    uint32_t id = oc_exec_handle_session_id(mine);
    g_atomic_pointer_set(&h, mine);
    for (int i = 0; i < 600 && g_atomic_pointer_get(&h); i++)
        g_usleep(100 * 1000);
    ck_assert_ptr_null(g_atomic_pointer_get(&h));
    OK(oc_exec_kill(sb, id, 0, &e_));
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_streamed_order,
        test_stdin_roundtrip,
        test_reattach,
        test_pty,
        test_pty_reattach,
        test_handle_misuse,
        test_free_in_callback,
        test_flood,
        test_hibernate_mid_session,
    };

    test_thread = g_thread_self();
    return itest_main("stream", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
