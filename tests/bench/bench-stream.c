/* bench-stream.c: issue 4's streaming targets, on the library sandbox:
 *
 *  - first byte:  oc_exec_spawn("echo hi") until the first on_stdout, against
 *                 oc_exec_run("echo hi"), alternating;
 *  - keystroke:   one byte into a PTY running cat until the terminal's echo
 *                 comes to on_stdout, against an agent PING->PONG on the
 *                 same connection, alternating;
 *  - stream:      64 MiB through cat (a session's stdin and stdout pipes),
 *                 from the first oc_exec_send_stdin to the last byte back.
 *
 * Its floor, the same bytes echoed through the raw port, is measured in the
 * bench domain (bench-domain.c).
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <glib.h>

#include "bench.h"
#include "core/sandbox.h"

#define ECHO_CMD "echo hi"
#define STREAM_CHUNK (1u << 20)

/* What a handle's callbacks saw (they run on the handle's own thread). */
typedef struct {
    GMutex lock;
    GCond cond;
    gsize pos;            /* stdout offset: bytes that came and bytes skipped */
    gsize want;           /* done_t is set when pos reaches this */
    double done_t;        /* bench_now() then; 0 before */
    const guint8 *expect; /* if set, stdout must be its first bytes */
    gssize mismatch_at;   /* first offset that differs from expect, or -1 */
    guint64 gap;          /* bytes skipped (on_gap) */
    gboolean ended;
    GString *text;        /* the start of stdout, for checks */
} Seen;

/* Called with s->lock held. */
static void seen_advance(Seen *s, gsize len, double t)
{
    s->pos += len;
    if (s->pos >= s->want && s->done_t == 0)
        s->done_t = t;
    g_cond_broadcast(&s->cond);
}

static void seen_stdout(const char *data, size_t len, void *user_data)
{
    Seen *s = user_data;
    double t = bench_now();

    g_mutex_lock(&s->lock);
    if (s->expect && s->mismatch_at < 0) {
        if (s->pos + len > s->want)
            s->mismatch_at = (gssize)s->want;
        else if (memcmp(s->expect + s->pos, data, len) != 0)
            for (gsize i = 0; s->mismatch_at < 0; i++)
                if ((guint8)data[i] != s->expect[s->pos + i])
                    s->mismatch_at = (gssize)(s->pos + i);
    }
    if (s->text->len < 8192)
        g_string_append_len(s->text, data, (gssize)len);
    seen_advance(s, len, t);
    g_mutex_unlock(&s->lock);
}

static void seen_gap(int stream, uint64_t bytes, void *user_data)
{
    Seen *s = user_data;

    double t = bench_now();

    /* What follows the gap is the stream from pos + bytes on. */
    g_mutex_lock(&s->lock);
    s->gap += bytes;
    seen_advance(s, bytes, t);
    g_mutex_unlock(&s->lock);
}

/* How it ended comes from oc_exec_wait() (handle_finish). */
static void seen_end(int status, int exit_code, void *user_data)
{
    Seen *s = user_data;

    g_mutex_lock(&s->lock);
    s->ended = TRUE;
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
}

static void seen_init(Seen *s, gsize want, const guint8 *expect, oc_exec_callbacks *cb)
{
    memset(s, 0, sizeof *s);
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->want = want;
    s->expect = expect;
    s->mismatch_at = -1;
    s->text = g_string_new(NULL);
    *cb = (oc_exec_callbacks){ .version = OC_EXEC_CALLBACKS_VERSION, .on_stdout = seen_stdout,
                               .on_end = seen_end, .on_gap = seen_gap, .user_data = s };
}

/* After the handle is freed: no callback comes any more. */
static void seen_clear(Seen *s)
{
    g_string_free(s->text, TRUE);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
}

/* Expects want more bytes from now on. */
static void seen_expect(Seen *s, gsize more)
{
    g_mutex_lock(&s->lock);
    s->want = s->pos + more;
    s->done_t = 0;
    g_mutex_unlock(&s->lock);
}

/* Waits until pos reaches want; returns done_t, or 0 if the handle ended or
 * the time ran out first. */
static double seen_wait(Seen *s, double timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * G_USEC_PER_SEC);

    g_mutex_lock(&s->lock);
    while (s->done_t == 0 && !s->ended && g_cond_wait_until(&s->cond, &s->lock, deadline))
        ;
    double t = s->done_t;
    g_mutex_unlock(&s->lock);
    return t;
}

/* Waits for the handle's end and frees it; the exit code, or -1. */
static int handle_finish(oc_exec_handle *h)
{
    oc_error *e = NULL;
    int code = -1;
    int rc = oc_exec_wait(h, 30000, &code, &e);

    if (rc != 0) {
        bench_report_oc("oc_exec_wait", rc, e);
        code = -1;
    }
    oc_exec_handle_free(h);
    return code;
}

/* ---- first byte after start, against exec.run ---- */

static double exec_run_echo(oc_sandbox *sb)
{
    oc_exec_result *res = NULL;
    oc_error *e = NULL;
    double a = bench_now();
    int rc = oc_exec_run(&res, sb, ECHO_CMD, NULL, &e);
    double b = bench_now();

    if (rc != 0) {
        bench_report_oc("oc_exec_run(" ECHO_CMD ")", rc, e);
        return -1;
    }
    gboolean ok = oc_exec_result_exit_code(res) == 0 &&
                  g_str_equal(oc_exec_result_stdout(res, NULL), "hi\n");
    oc_exec_result_free(res);
    if (!ok)
        bench_note("ours: oc_exec_run(" ECHO_CMD ") did not exit 0 with \"hi\"");
    return ok ? (b - a) * 1000.0 : -1;
}

static double spawn_first_byte(oc_sandbox *sb)
{
    oc_exec_callbacks cb;
    oc_exec_handle *h = NULL;
    oc_error *e = NULL;
    Seen s;

    seen_init(&s, 1, NULL, &cb);
    double a = bench_now();
    int rc = oc_exec_spawn(&h, sb, ECHO_CMD, NULL, &cb, &e);
    if (rc != 0) {
        bench_report_oc("oc_exec_spawn(" ECHO_CMD ")", rc, e);
        seen_clear(&s);
        return -1;
    }
    double t = seen_wait(&s, 30);
    int code = handle_finish(h);
    gboolean ok = t > 0 && code == 0 && g_str_equal(s.text->str, "hi\n");
    if (!ok)
        bench_note("ours: oc_exec_spawn(" ECHO_CMD "): %s, exit %d, output \"%s\"",
                   t > 0 ? "first byte came" : "no first byte in 30 s", code, s.text->str);
    seen_clear(&s);
    return ok ? (t - a) * 1000.0 : -1;
}

static gboolean first_byte(oc_sandbox *sb)
{
    BenchResults *r = &bench_results;

    /* Alternating, in both orders, so that drift and any after-effect of
     * the one on the next hit both alike. */
    for (int i = 0; i < opt_exec_warmup + opt_exec_n; i++) {
        double run, first;
        if (i % 2 == 0) {
            run = exec_run_echo(sb);
            first = run < 0 ? -1 : spawn_first_byte(sb);
        } else {
            first = spawn_first_byte(sb);
            run = first < 0 ? -1 : exec_run_echo(sb);
        }
        if (run < 0 || first < 0) {
            r->stream_status = g_strdup("\"echo hi\" failed (first byte)");
            return FALSE;
        }
        if (i >= opt_exec_warmup) {
            bench_push(r->ours_echo_run_ms, run);
            bench_push(r->ours_first_byte_ms, first);
        }
    }
    bench_note("ours: first byte p50 %.2f ms, exec.run p50 %.2f ms", bench_median(r->ours_first_byte_ms),
               bench_median(r->ours_echo_run_ms));
    return TRUE;
}

/* ---- keystroke echo, against the agent's ping ---- */

/* Runs inside a library call, on the sandbox's agent connection (the one
 * the PTY's handle uses); only the ping itself is timed. */
static gboolean ping_op(AgentConn *conn, gpointer data, GError **error)
{
    double *ms = data;
    double a = bench_now();
    gboolean ok = agent_conn_ping(conn, error);

    *ms = (bench_now() - a) * 1000.0;
    return ok;
}

static gboolean keystrokes(oc_sandbox *sb)
{
    BenchResults *r = &bench_results;
    oc_pty_options po = OC_PTY_OPTIONS_INIT;
    oc_exec_callbacks cb;
    oc_exec_handle *h = NULL;
    oc_error *e = NULL;
    GError *err = NULL;
    Seen s;
    int total = opt_exec_warmup + opt_keys;
    g_autofree char *typed = g_malloc(total + 1);
    gboolean ok = FALSE;

    /* cat never reads a line that is not finished: every byte that comes
     * back is the terminal's own echo (canonical mode, ECHO on). */
    po.shell = "cat";
    seen_init(&s, 0, NULL, &cb);
    int rc = oc_pty_create(&h, sb, &po, &cb, &e);
    if (rc != 0) {
        bench_report_oc("oc_pty_create(cat)", rc, e);
        r->stream_status = g_strdup("oc_pty_create failed");
        seen_clear(&s);
        return FALSE;
    }
    for (int i = 0; i < total; i++) {
        char c = (char)('a' + i % 26);
        double ping = -1;
        typed[i] = c;
        seen_expect(&s, 1);
        double a = bench_now();
        if ((rc = oc_exec_send_stdin(h, &c, 1, &e)) != 0) {
            bench_report_oc("oc_exec_send_stdin (keystroke)", rc, e);
            r->stream_status = g_strdup("a keystroke could not be sent");
            goto out;
        }
        double t = seen_wait(&s, 10);
        if (t == 0) {
            bench_note("ours: keystroke #%d: no echo in 10 s", i + 1);
            r->stream_status = g_strdup("a keystroke was not echoed");
            goto out;
        }
        if (!core_call_run(sb, ping_op, &ping, &err)) {
            bench_note("ours: ping: %s", err->message);
            g_clear_error(&err);
            r->stream_status = g_strdup("agent ping failed");
            goto out;
        }
        if (i >= opt_exec_warmup) {
            bench_push(r->ours_key_ms, (t - a) * 1000.0);
            bench_push(r->ours_ping_ms, ping);
        }
    }
    typed[total] = '\0';
    g_mutex_lock(&s.lock);
    ok = g_str_equal(s.text->str, typed);
    g_mutex_unlock(&s.lock);
    if (!ok) {
        bench_note("ours: the PTY echoed \"%s\", not what was typed", s.text->str);
        r->stream_status = g_strdup("the PTY's echo differs from the keystrokes");
    } else {
        bench_note("ours: keystroke echo p50 %.2f ms, ping p50 %.2f ms", bench_median(r->ours_key_ms),
                   bench_median(r->ours_ping_ms));
    }
out:
    if ((rc = oc_exec_signal(h, SIGKILL, &e)) != 0)
        bench_report_oc("oc_exec_signal", rc, e);
    handle_finish(h);
    seen_clear(&s);
    return ok;
}

/* ---- cat: 64 MiB through stdin and stdout ---- */

/* One transfer: MiB/s (*skipped: bytes the handle skipped), or <0 with
 * stream_status set. */
static double stream_once(oc_sandbox *sb, const guint8 *data, gsize len, guint64 *skipped)
{
    BenchResults *r = &bench_results;
    oc_exec_callbacks cb;
    oc_exec_handle *h = NULL;
    oc_error *e = NULL;
    BenchWatchdog wd;
    Seen s;
    double rate = -1;
    /* generous: 1 MiB/s would still finish */
    int limit = 60 + (int)(len >> 20);

    seen_init(&s, len, data, &cb);
    int rc = oc_exec_spawn(&h, sb, "cat", NULL, &cb, &e);
    if (rc != 0) {
        bench_report_oc("oc_exec_spawn(cat)", rc, e);
        r->stream_status = g_strdup("oc_exec_spawn(cat) failed");
        seen_clear(&s);
        return -1;
    }
    bench_watchdog_arm(&wd, sb, limit, "the cat stream");
    const char *what = "oc_exec_send_stdin";
    double a = bench_now();
    for (gsize off = 0; off < len && rc == 0; off += STREAM_CHUNK)
        rc = oc_exec_send_stdin(h, data + off, MIN(STREAM_CHUNK, len - off), &e);
    if (rc == 0) {
        what = "oc_exec_close_stdin";
        rc = oc_exec_close_stdin(h, &e);
    }
    double t = rc == 0 ? seen_wait(&s, limit) : 0;
    if (!bench_watched_ok(&wd, what, rc, e, &r->stream_status)) {
        oc_exec_signal(h, SIGKILL, NULL);
        handle_finish(h);
        seen_clear(&s);
        return -1;
    }
    int code = handle_finish(h);
    g_autofree char *why = NULL;
    /* Offsets count skipped bytes, so the bytes after a gap are checked too. */
    if (s.mismatch_at >= 0)
        why = g_strdup_printf("the bytes that came back differ from those sent from offset %zd on "
                              "(%" G_GUINT64_FORMAT " bytes skipped before)", s.mismatch_at, s.gap);
    else if (t == 0)
        why = g_strdup_printf("%zu of %zu bytes came back in %d s", s.pos, len, limit);
    else if (code != 0)
        why = g_strdup_printf("cat exited %d", code);
    if (why) {
        bench_note("ours: cat stream: %s", why);
        r->stream_status = g_strdup_printf("cat stream: %s", why);
    } else {
        rate = len / MIB / (t - a);
        *skipped = s.gap;
    }
    seen_clear(&s);
    return rate;
}

/* A rep whose handle skipped output (it fell behind the session's ring: the
 * process never waits for an attacher) is not a complete transfer: its rate
 * stays out of the row, and the run says so. */
static void stream(oc_sandbox *sb)
{
    BenchResults *r = &bench_results;
    gsize len = (gsize)opt_file_mib << 20;
    g_autofree guint8 *data = bench_pattern(len, 3);
    int lossy = 0;
    guint64 lost = 0;

    for (int i = 0; i < opt_reps; i++) {
        guint64 skipped = 0;
        double v = stream_once(sb, data, len, &skipped);
        if (v < 0)
            return;
        bench_push(r->ours_stream_skipped, (double)skipped);
        if (skipped) {
            lossy++;
            lost += skipped;
            bench_note("ours: cat stream #%d: the handle skipped %" G_GUINT64_FORMAT " bytes "
                       "(%.1f MiB/s with them)", i + 1, skipped, v);
        } else {
            bench_push(r->ours_stream_mibs, v);
        }
    }
    if (lossy)
        r->ours_stream_note = g_strdup_printf("%d of %d transfers skipped output (%" G_GUINT64_FORMAT
                                              " bytes in all): the handle fell more than %u bytes "
                                              "behind cat", lossy, opt_reps, lost,
                                              OC_EXEC_SESSION_SCROLLBACK);
    bench_note("ours: cat stream %.1f MiB/s (%u complete transfers)", bench_median(r->ours_stream_mibs),
               r->ours_stream_mibs->len);
}

void bench_stream_ours(oc_sandbox *sb)
{
    if (first_byte(sb) && keystrokes(sb))
        stream(sb);
}
