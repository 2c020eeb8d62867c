/* bench-load-ops.c: what one exec stream of oc-bench-load does, and how each
 * result is checked.
 *
 * Every command's output is known in advance: a line generator prints
 * "<tag> <n>" for n = 1..N (and "<tag> e<n>" on stderr), where the tag names
 * the sandbox, stream and iteration, so the whole output is compared byte
 * for byte, and a line carrying another tag is output that crossed streams.
 * Bytes sent through cat and file contents are random and compared by their
 * SHA-256 (the guest's sha256sum too, for files).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench-load.h"

static const char *const op_names[LOAD_N_OPS] = {
    [LOAD_EXEC_RUN] = "exec.run lines",
    [LOAD_SPAWN_LINES] = "spawn lines",
    [LOAD_SPAWN_CAT] = "spawn cat (hash)",
    [LOAD_FILE_WRITE] = "file write",
    [LOAD_FILE_READ] = "file read (hash)",
    [LOAD_FILE_GUEST] = "file sha256sum",
    [LOAD_CYCLE] = "create-exec-kill",
};

const char *load_op_name(LoadOp op)
{
    return op_names[op];
}

void load_count(LoadRun *run, LoadOp op, LoadOutcome outcome)
{
    __atomic_fetch_add(&run->counts[op][outcome], 1, __ATOMIC_RELAXED);
}

void load_fail(LoadRun *run, LoadStream *st, LoadOp op, LoadOutcome outcome, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;
    g_autofree char *line = NULL;

    load_count(run, op, outcome);
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = g_strdup_printf("sandbox %u stream %u iteration %" G_GUINT64_FORMAT ", %s: %s",
                           st->sandbox, st->stream, st->iter, op_names[op], msg);
    fprintf(stderr, "load: FAIL %s\n", line);
    g_mutex_lock(&run->lock);
    run->failures_total++;
    if (run->failures->len < LOAD_FAILURES_KEPT)
        g_ptr_array_add(run->failures, g_steal_pointer(&line));
    g_mutex_unlock(&run->lock);
}

static void load_add_bytes(LoadRun *run, guint64 n)
{
    __atomic_fetch_add(&run->bytes_checked, (gint64)n, __ATOMIC_RELAXED);
}

static void op_begin(LoadStream *st, LoadOp op)
{
    g_atomic_int_set(&st->op, op);
    __atomic_store_n(&st->op_started, g_get_monotonic_time(), __ATOMIC_RELAXED);
}

static void op_end(LoadStream *st)
{
    __atomic_store_n(&st->op_started, 0, __ATOMIC_RELAXED);
}

static void fail_call(LoadStream *st, LoadOp op, int rc, oc_error *err)
{
    load_fail(st->run, st, op, LOAD_ERROR, "%s (%s)", err ? oc_error_message(err) : "no message",
              oc_strerror(rc));
    oc_error_free(err);
}

/* ---- tagged lines ---- */

typedef struct {
    char tag[64];
    guint out_lines, err_lines;
} Lines;

/* Mostly small outputs, with one in ten large enough to need flow control. */
static guint pick_lines(GRand *r)
{
    return g_rand_int_range(r, 0, 10) == 0 ? g_rand_int_range(r, 2000, 20000)
                                           : g_rand_int_range(r, 1, 200);
}

static void lines_init(Lines *l, LoadStream *st, gboolean with_stderr)
{
    g_snprintf(l->tag, sizeof l->tag, "k%us%ui%" G_GUINT64_FORMAT, st->sandbox, st->stream,
               st->iter);
    l->out_lines = pick_lines(st->rand);
    l->err_lines = with_stderr ? g_rand_int_range(st->rand, 1, 50) : 0;
}

static char *lines_command(const Lines *l)
{
    if (l->err_lines == 0)
        return g_strdup_printf("seq -f '%s %%g' 1 %u", l->tag, l->out_lines);
    return g_strdup_printf("seq -f '%s %%g' 1 %u; seq -f '%s e%%g' 1 %u >&2", l->tag,
                           l->out_lines, l->tag, l->err_lines);
}

static GString *lines_expected(const Lines *l, gboolean err_stream)
{
    guint n = err_stream ? l->err_lines : l->out_lines;
    GString *s = g_string_sized_new(n * (strlen(l->tag) + 8));

    for (guint i = 1; i <= n; i++)
        g_string_append_printf(s, err_stream ? "%s e%u\n" : "%s %u\n", l->tag, i);
    return s;
}

/* A line whose first word is a tag (k<n>s<n>i<n>) other than ours. */
static gboolean has_foreign_tag(const char *data, size_t len, const char *tag)
{
    g_autofree char *copy = g_strndup(data, len);
    g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);

    for (char **p = lines; *p; p++) {
        guint k, s;
        guint64 i;
        char word[64];
        if (sscanf(*p, "%63s", word) == 1 && strcmp(word, tag) != 0 &&
            sscanf(word, "k%us%ui%" G_GUINT64_FORMAT, &k, &s, &i) == 3)
            return TRUE;
    }
    return FALSE;
}

static size_t first_difference(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0;
    while (i < alen && i < blen && a[i] == b[i])
        i++;
    return i;
}

/* Compares one stream's output with what the command must have printed. */
static gboolean check_lines(LoadStream *st, LoadOp op, const Lines *l, gboolean err_stream,
                            const char *got, size_t got_len)
{
    g_autoptr(GString) want = lines_expected(l, err_stream);
    const char *name = err_stream ? "stderr" : "stdout";

    load_add_bytes(st->run, got_len);
    if (got_len == want->len && memcmp(got, want->str, got_len) == 0)
        return TRUE;
    size_t at = first_difference(got, got_len, want->str, want->len);
    load_fail(st->run, st, op, has_foreign_tag(got, got_len, l->tag) ? LOAD_CROSSED : LOAD_LOST,
              "%s: %zu bytes, expected %zu; first difference at byte %zu: \"%.40s\"", name,
              got_len, want->len, at, at < got_len ? got + at : "");
    return FALSE;
}

void load_exec_lines(LoadStream *st)
{
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r = NULL;
    oc_error *err = NULL;
    Lines l;
    g_autofree char *cmd = NULL;
    g_autofree char *count = NULL;
    /* Half of them argv (no shell, stdout only), half through sh -c. */
    gboolean argv = st->iter % 2 == 0;
    int rc;

    lines_init(&l, st, !argv);
    g_autofree char *fmt = g_strdup_printf("%s %%g", l.tag);
    count = g_strdup_printf("%u", l.out_lines);
    const char *args[] = { "-f", fmt, "1", count, NULL };
    if (argv)
        o.args = args;
    o.timeout_ms = LOAD_CALL_TIMEOUT_MS;
    cmd = argv ? g_strdup("seq") : lines_command(&l);
    op_begin(st, LOAD_EXEC_RUN);
    rc = oc_exec_run(&r, st->sb, cmd, &o, &err);
    op_end(st);
    if (rc < 0) {
        fail_call(st, LOAD_EXEC_RUN, rc, err);
        return;
    }
    size_t out_len, err_len;
    const char *out = oc_exec_result_stdout(r, &out_len);
    const char *errs = oc_exec_result_stderr(r, &err_len);
    if (oc_exec_result_exit_code(r) != 0 || oc_exec_result_timed_out(r))
        load_fail(st->run, st, LOAD_EXEC_RUN, LOAD_ERROR, "exit code %d%s, stderr \"%.200s\"",
                  oc_exec_result_exit_code(r), oc_exec_result_timed_out(r) ? " (timed out)" : "",
                  errs);
    else if (check_lines(st, LOAD_EXEC_RUN, &l, FALSE, out, out_len) &&
             check_lines(st, LOAD_EXEC_RUN, &l, TRUE, errs, err_len))
        load_count(st->run, LOAD_EXEC_RUN, LOAD_OK);
    oc_exec_result_free(r);
}

/* ---- spawned sessions ---- */

typedef struct {
    GString *out, *err;
    guint64 out_bytes;
    guint64 gap_bytes;
    int end_status;
} Collect;

static void on_out(const char *data, size_t len, void *user_data)
{
    Collect *c = user_data;
    g_string_append_len(c->out, data, len);
    c->out_bytes += len;
}

static void on_err(const char *data, size_t len, void *user_data)
{
    Collect *c = user_data;
    g_string_append_len(c->err, data, len);
}

static void on_gap(int stream, uint64_t bytes, void *user_data)
{
    Collect *c = user_data;
    c->gap_bytes += bytes;
}

static void on_end(int status, int exit_code, void *user_data)
{
    Collect *c = user_data;
    c->end_status = status;
}

static void collect_init(Collect *c)
{
    memset(c, 0, sizeof *c);
    c->out = g_string_new(NULL);
    c->err = g_string_new(NULL);
}

static void collect_clear(Collect *c)
{
    g_string_free(c->out, TRUE);
    g_string_free(c->err, TRUE);
}

/* Waits for the handle; the callbacks have all returned once this succeeds.
 * A session that outlives the wait is killed. */
static gboolean wait_handle(LoadStream *st, LoadOp op, oc_exec_handle *h, int *code)
{
    oc_error *err = NULL;
    int rc = oc_exec_wait(h, LOAD_CALL_TIMEOUT_MS, code, &err);

    if (rc == OC_OK)
        return TRUE;
    if (rc == OC_ETIMEOUT)
        oc_exec_kill(st->sb, oc_exec_handle_session_id(h), 0, NULL);
    fail_call(st, op, rc, err);
    return FALSE;
}

static void do_spawn_lines(LoadStream *st)
{
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_callbacks cb = { OC_EXEC_CALLBACKS_VERSION, on_out, on_err, NULL, on_end, NULL, on_gap };
    oc_exec_handle *h = NULL;
    oc_error *err = NULL;
    Collect c;
    Lines l;
    int rc, code = -1;

    lines_init(&l, st, TRUE);
    g_autofree char *cmd = lines_command(&l);
    collect_init(&c);
    cb.user_data = &c;
    op_begin(st, LOAD_SPAWN_LINES);
    rc = oc_exec_spawn(&h, st->sb, cmd, &o, &cb, &err);
    if (rc < 0)
        fail_call(st, LOAD_SPAWN_LINES, rc, err);
    else if (wait_handle(st, LOAD_SPAWN_LINES, h, &code)) {
        if (code != 0)
            load_fail(st->run, st, LOAD_SPAWN_LINES, LOAD_ERROR, "exit code %d", code);
        else if (c.gap_bytes)
            load_fail(st->run, st, LOAD_SPAWN_LINES, LOAD_LOST, "on_gap: %" G_GUINT64_FORMAT
                      " bytes skipped", c.gap_bytes);
        else if (check_lines(st, LOAD_SPAWN_LINES, &l, FALSE, c.out->str, c.out->len) &&
                 check_lines(st, LOAD_SPAWN_LINES, &l, TRUE, c.err->str, c.err->len))
            load_count(st->run, LOAD_SPAWN_LINES, LOAD_OK);
    }
    op_end(st);
    oc_exec_handle_free(h);
    collect_clear(&c);
}

static void fill_random(GRand *r, guint8 *buf, size_t len)
{
    for (size_t i = 0; i < len; i += 4) {
        guint32 v = g_rand_int(r);
        memcpy(buf + i, &v, MIN(4, len - i));
    }
}

/* Mostly tens of KiB, one in ten up to 2 MiB. */
static size_t pick_size(GRand *r)
{
    return g_rand_int_range(r, 0, 10) == 0 ? g_rand_int_range(r, 256 * 1024, 2 * 1024 * 1024)
                                           : g_rand_int_range(r, 1, 128 * 1024);
}

/* Where bytes that came back differ from those sent, and whether what
 * follows is a repeat of earlier bytes (the same stream twice) or foreign. */
static char *where_from(const guint8 *sent, size_t sent_len, const char *got, size_t got_len)
{
    size_t at = first_difference((const char *)sent, sent_len, got, got_len);
    size_t probe = MIN(32, got_len - at);

    if (at >= got_len)
        return g_strdup_printf("the first %zu bytes match, then it ends", at);
    const guint8 *hit = probe ? memmem(sent, sent_len, got + at, probe) : NULL;
    if (hit)
        return g_strdup_printf("the first %zu bytes match; then come the bytes sent at offset %zu",
                               at, (size_t)(hit - sent));
    GString *hex = g_string_new(NULL);
    for (size_t i = 0; i < MIN(probe, 8); i++)
        g_string_append_printf(hex, "%02x", (guint8)got[at + i]);
    char *msg = g_strdup_printf("the first %zu bytes match; what follows (%s...) was not sent",
                                at, hex->str);
    g_string_free(hex, TRUE);
    return msg;
}

static void do_spawn_cat(LoadStream *st)
{
    const char *args[] = { NULL };
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_callbacks cb = { OC_EXEC_CALLBACKS_VERSION, on_out, on_err, NULL, on_end, NULL, on_gap };
    oc_exec_handle *h = NULL;
    oc_error *err = NULL;
    size_t len = pick_size(st->rand);
    g_autofree guint8 *data = g_malloc(len);
    Collect c;
    int rc, code = -1;

    fill_random(st->rand, data, len);
    g_autofree char *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
    o.args = args;
    collect_init(&c);
    cb.user_data = &c;
    op_begin(st, LOAD_SPAWN_CAT);
    rc = oc_exec_spawn(&h, st->sb, "cat", &o, &cb, &err);
    /* Sent in pieces of varying size, as an interactive writer would. */
    for (size_t off = 0; rc == OC_OK && off < len;) {
        size_t piece = (size_t)g_rand_int_range(st->rand, 1, 256 * 1024); /* not inside MIN() */
        size_t n = MIN(len - off, piece);
        rc = oc_exec_send_stdin(h, data + off, n, &err);
        off += n;
    }
    if (rc == OC_OK)
        rc = oc_exec_close_stdin(h, &err);
    if (rc < 0)
        fail_call(st, LOAD_SPAWN_CAT, rc, err);
    else if (wait_handle(st, LOAD_SPAWN_CAT, h, &code)) {
        g_autofree char *got = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                                           (const guchar *)c.out->str, c.out->len);
        load_add_bytes(st->run, c.out_bytes);
        if (code != 0)
            load_fail(st->run, st, LOAD_SPAWN_CAT, LOAD_ERROR, "exit code %d, stderr \"%.200s\"",
                      code, c.err->str);
        else if (c.gap_bytes || c.out_bytes != len) {
            g_autofree char *where = where_from(data, len, c.out->str, c.out->len);
            load_fail(st->run, st, LOAD_SPAWN_CAT, LOAD_LOST,
                      "sent %zu bytes, got %" G_GUINT64_FORMAT " back, %" G_GUINT64_FORMAT
                      " skipped (on_gap); %s", len, c.out_bytes, c.gap_bytes, where);
        }
        else if (strcmp(got, want) != 0)
            load_fail(st->run, st, LOAD_SPAWN_CAT, LOAD_HASH, "%zu bytes came back as %s, sent %s",
                      len, got, want);
        else
            load_count(st->run, LOAD_SPAWN_CAT, LOAD_OK);
    }
    op_end(st);
    oc_exec_handle_free(h);
    collect_clear(&c);
}

/* ---- files ---- */

#define LOAD_DIR "/var/tmp/oc-load"

static gboolean read_check(LoadStream *st, const char *path, const char *want, size_t want_len)
{
    void *data = NULL;
    size_t len = 0;
    oc_error *err = NULL;
    int rc;

    op_begin(st, LOAD_FILE_READ);
    rc = oc_files_read(st->sb, path, &data, &len, 0, &err);
    op_end(st);
    if (rc < 0) {
        fail_call(st, LOAD_FILE_READ, rc, err);
        return FALSE;
    }
    g_autofree char *got = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
    load_add_bytes(st->run, len);
    oc_free(data);
    if (strcmp(got, want) != 0 || (want_len != (size_t)-1 && len != want_len)) {
        load_fail(st->run, st, LOAD_FILE_READ, LOAD_HASH, "%s: read %zu bytes hashing %s, wrote %s",
                  path, len, got, want);
        return FALSE;
    }
    load_count(st->run, LOAD_FILE_READ, LOAD_OK);
    return TRUE;
}

/* The guest's own sha256sum of the file must match the host's hash. */
static void guest_hash_check(LoadStream *st, const char *path, const char *want)
{
    const char *args[] = { path, NULL };
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r = NULL;
    oc_error *err = NULL;
    int rc;

    o.args = args;
    o.timeout_ms = LOAD_CALL_TIMEOUT_MS;
    op_begin(st, LOAD_FILE_GUEST);
    rc = oc_exec_run(&r, st->sb, "sha256sum", &o, &err);
    op_end(st);
    if (rc < 0) {
        fail_call(st, LOAD_FILE_GUEST, rc, err);
        return;
    }
    g_autofree char *expect = g_strdup_printf("%s  %s\n", want, path);
    const char *out = oc_exec_result_stdout(r, NULL);
    if (oc_exec_result_exit_code(r) != 0)
        load_fail(st->run, st, LOAD_FILE_GUEST, LOAD_ERROR, "exit code %d, stderr \"%.200s\"",
                  oc_exec_result_exit_code(r), oc_exec_result_stderr(r, NULL));
    else if (strcmp(out, expect) != 0)
        load_fail(st->run, st, LOAD_FILE_GUEST, LOAD_HASH, "the guest says \"%.120s\", expected "
                  "\"%s\"", out, expect);
    else
        load_count(st->run, LOAD_FILE_GUEST, LOAD_OK);
    oc_exec_result_free(r);
}

/* Writes a new file and checks it three ways, then reads the one written in
 * the previous round (other streams' work came between) and removes it. */
static void do_files(LoadStream *st)
{
    size_t len = pick_size(st->rand);
    g_autofree guint8 *data = g_malloc(len);
    g_autofree char *path = g_strdup_printf(LOAD_DIR "/k%us%ui%" G_GUINT64_FORMAT, st->sandbox,
                                            st->stream, st->iter);
    oc_error *err = NULL;
    int rc;

    fill_random(st->rand, data, len);
    g_autofree char *hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
    op_begin(st, LOAD_FILE_WRITE);
    rc = oc_files_mkdir(st->sb, LOAD_DIR, 0, &err);
    if (rc == OC_OK)
        rc = oc_files_write(st->sb, path, data, len, 0, &err);
    op_end(st);
    if (rc < 0) {
        fail_call(st, LOAD_FILE_WRITE, rc, err);
        return;
    }
    load_count(st->run, LOAD_FILE_WRITE, LOAD_OK);
    if (read_check(st, path, hash, len))
        guest_hash_check(st, path, hash);
    if (st->prev_path) {
        read_check(st, st->prev_path, st->prev_hash, (size_t)-1);
        oc_files_remove(st->sb, st->prev_path, 0, NULL);
    }
    g_free(st->prev_path);
    g_free(st->prev_hash);
    st->prev_path = g_steal_pointer(&path);
    st->prev_hash = g_steal_pointer(&hash);
}

/* ---- the stream ---- */

typedef void (*OpFn)(LoadStream *st);

void load_stream_round(LoadStream *st)
{
    static const OpFn ops[] = { load_exec_lines, do_spawn_lines, do_spawn_cat, do_files };

    /* Streams start at different operations, so each kind overlaps the others. */
    for (guint i = 0; i < G_N_ELEMENTS(ops); i++) {
        if (g_atomic_int_get(&st->run->stop))
            return;
        ops[(st->stream + i) % G_N_ELEMENTS(ops)](st);
        st->iter++;
    }
}

gpointer load_stream_thread(gpointer data)
{
    LoadStream *st = data;

    while (!g_atomic_int_get(&st->run->stop) && g_get_monotonic_time() < st->run->deadline)
        load_stream_round(st);
    return NULL;
}

void load_stream_clear(LoadStream *st)
{
    g_clear_pointer(&st->rand, g_rand_free);
    g_clear_pointer(&st->prev_path, g_free);
    g_clear_pointer(&st->prev_hash, g_free);
}
