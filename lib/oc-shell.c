/* oc-shell.c: public entry points of stateful shells.
 *
 * A shell is a bash session (oc_exec_spawn) that reads its commands from
 * stdin.  Each run writes one line that evals the command with stdin from
 * /dev/null, then prints a fresh random marker: on stdout followed by the
 * exit status, on stderr alone.  What came before the markers is the
 * command's output.  Eval keeps a syntax error in the command from
 * swallowing the marker line.  The marker is written in two halves, so that
 * it never stands whole in the line bash reads (`set -v` echoes that line),
 * and it is printed with stderr on /dev/null, so that `set -x` does not
 * trace it.
 *
 * Hibernation is invisible here too: the session goes on in the guest, so a
 * run after the handle lost its connection between commands attaches again
 * (which wakes the sandbox) and skips the replayed scrollback.  Losing it in
 * the middle of a command ends the shell: what the command wrote meanwhile
 * cannot be told apart from what came before.
 *
 * Runs must not overlap with oc_shell_close() on the same shell.
 */
#include <string.h>

#include "oc-private.h"

#define MARK_HALF 8
#define MARK_LEN (2 * MARK_HALF)
/* The longest marker line: the marker and " 255\n". */
#define MARK_LINE_MAX (MARK_LEN + 5)
/* Beyond the cap a stream keeps its latest bytes, in which the marker will
 * come; at least MARK_LINE_MAX. */
#define TAIL_KEEP 64
#define STREAM_CAP OC_EXEC_DEFAULT_MAX_OUTPUT
/* After stdin failed, how long the handle may take to end. */
#define SEND_FAIL_WAIT_MS 10000

typedef struct {
    GByteArray *buf;    /* the run's bytes: up to STREAM_CAP, then the latest TAIL_KEEP */
    gboolean truncated; /* bytes past the cap were dropped */
    gssize mark_at;     /* where the marker line starts; -1 until it came whole */
    int code;           /* stdout: the exit status on the marker line */
} ShellStream;

struct oc_shell {
    oc_sandbox *sb;
    oc_exec_handle *h;
    guint32 session;
    gint busy;          /* atomic: a run is in progress */

    GMutex lock;        /* guards the fields below; the callbacks take it */
    GCond cond;         /* a marker came, or the handle ended */
    char mark[MARK_LEN + 1]; /* the running command's; "" between runs (output is dropped) */
    ShellStream out, err;
    gboolean live;      /* the replay is over: output is the shell's from now on */
    gboolean ended;     /* on_end came */
    int end_status, end_code;
    char *dead;         /* why no command can run any more; NULL while one can */
};

/* ---- output (on the handle's thread) ---- */

/* TRUE if a whole marker line starts at p: the marker, then for stdout
 * " <status>", then "\n". */
static gboolean mark_line_at(const char *p, const char *end, gboolean with_code, int *code)
{
    const char *q = p + MARK_LEN;
    int digits = 0;

    *code = 0;
    if (with_code) {
        if (q >= end || *q++ != ' ')
            return FALSE;
        for (; q < end && digits < 3 && g_ascii_isdigit(*q); q++, digits++)
            *code = *code * 10 + (*q - '0');
        if (digits == 0)
            return FALSE;
    }
    return q < end && *q == '\n';
}

static void stream_take(ShellStream *s, const char *mark, gboolean with_code, const char *data,
                        size_t len)
{
    /* A marker line not whole before this chunk started in its last bytes. */
    gsize from = s->buf->len > MARK_LINE_MAX ? s->buf->len - MARK_LINE_MAX : 0;

    if (s->mark_at >= 0)
        return;
    g_byte_array_append(s->buf, (const guint8 *)data, len);
    const char *base = (const char *)s->buf->data, *end = base + s->buf->len;
    for (const char *p = base + from;
         (p = memmem(p, end - p, mark, MARK_LEN)) != NULL; p++) {
        if (mark_line_at(p, end, with_code, &s->code)) {
            s->mark_at = p - base;
            return;
        }
    }
    if (s->buf->len > STREAM_CAP + TAIL_KEEP) {
        g_byte_array_remove_range(s->buf, STREAM_CAP, s->buf->len - STREAM_CAP - TAIL_KEEP);
        s->truncated = TRUE;
    }
}

static void take(oc_shell *sh, ShellStream *s, gboolean with_code, const char *data, size_t len)
{
    g_mutex_lock(&sh->lock);
    if (sh->live && sh->mark[0]) {
        stream_take(s, sh->mark, with_code, data, len);
        if (sh->out.mark_at >= 0 && sh->err.mark_at >= 0)
            g_cond_broadcast(&sh->cond);
    }
    g_mutex_unlock(&sh->lock);
}

static void on_stdout(const char *data, size_t len, void *user_data)
{
    oc_shell *sh = user_data;
    take(sh, &sh->out, TRUE, data, len);
}

static void on_stderr(const char *data, size_t len, void *user_data)
{
    oc_shell *sh = user_data;
    take(sh, &sh->err, FALSE, data, len);
}

/* The handle fell behind and the agent skipped output: the command's
 * output is no longer whole. */
static void on_gap(int stream, uint64_t bytes, void *user_data)
{
    oc_shell *sh = user_data;

    g_mutex_lock(&sh->lock);
    if (sh->live && sh->mark[0])
        (stream == 1 ? &sh->out : &sh->err)->truncated = TRUE;
    g_mutex_unlock(&sh->lock);
}

static void on_replay_end(void *user_data)
{
    oc_shell *sh = user_data;

    g_mutex_lock(&sh->lock);
    sh->live = TRUE;
    g_mutex_unlock(&sh->lock);
}

static void on_end(int status, int exit_code, void *user_data)
{
    oc_shell *sh = user_data;

    g_mutex_lock(&sh->lock);
    sh->ended = TRUE;
    sh->end_status = status;
    sh->end_code = exit_code;
    g_cond_broadcast(&sh->cond);
    g_mutex_unlock(&sh->lock);
}

static oc_exec_callbacks shell_callbacks(oc_shell *sh)
{
    return (oc_exec_callbacks){
        .version = OC_EXEC_CALLBACKS_VERSION,
        .on_stdout = on_stdout,
        .on_stderr = on_stderr,
        .on_replay_end = on_replay_end,
        .on_end = on_end,
        .user_data = sh,
        .on_gap = on_gap,
    };
}

/* ---- running a command ---- */

/* A fresh buffer: a run that failed gives back what it held. */
static void stream_reset(ShellStream *s)
{
    if (s->buf)
        g_byte_array_unref(s->buf);
    s->buf = g_byte_array_new();
    s->truncated = FALSE;
    s->mark_at = -1;
    s->code = 0;
}

/* Hands the command's part of the stream to the result (the next run
 * starts a new buffer). */
static GByteArray *stream_steal(ShellStream *s, gboolean *truncated)
{
    GByteArray *b = s->buf;

    *truncated = s->truncated || (gsize)s->mark_at > STREAM_CAP;
    g_byte_array_set_size(b, MIN((gsize)s->mark_at, STREAM_CAP));
    s->buf = NULL;
    return b;
}

static GError *shell_error(oc_shell *sh, int code, const char *what)
{
    return g_error_new(OC_ERROR, code, "sandbox %s: shell %u: %s", oc_sandbox_id(sh->sb),
                       sh->session, what);
}

/* Called with the lock held once on_end came: why the shell is gone.  The
 * handle makes no more callbacks, so waiting for it cannot deadlock. */
static void set_dead_from_end(oc_shell *sh)
{
    oc_error *e = NULL;

    if (sh->end_status == OC_OK) {
        sh->dead = g_strdup_printf("the shell exited with code %d; open a new one",
                                   sh->end_code);
        return;
    }
    oc_exec_wait(sh->h, -1, NULL, &e);
    sh->dead = g_strdup_printf("the connection to it was lost while a command ran (%s); "
                               "open a new one", e ? oc_error_message(e) : "no reason given");
    oc_error_free(e);
}

/* Follows the session again after the handle lost its connection. */
static gboolean shell_reattach(oc_shell *sh, GError **error)
{
    const oc_exec_callbacks cb = shell_callbacks(sh);
    oc_exec_handle *h = NULL;
    oc_error *e = NULL;

    oc_exec_handle_free(sh->h);
    sh->h = NULL;
    g_mutex_lock(&sh->lock);
    sh->ended = FALSE;
    sh->live = FALSE;
    g_mutex_unlock(&sh->lock);
    if (oc_exec_attach(&h, sh->sb, sh->session, &cb, &e) != OC_OK) {
        g_set_error(error, OC_ERROR, oc_error_code_of(e),
                    "shell %u lost its connection and cannot attach again: %s", sh->session,
                    oc_error_message(e));
        oc_error_free(e);
        /* The next run tries again. */
        g_mutex_lock(&sh->lock);
        sh->ended = TRUE;
        g_mutex_unlock(&sh->lock);
        return FALSE;
    }
    sh->h = h;
    return TRUE;
}

/* The line that runs command and then prints the marker halves a and b. */
static char *command_line(const char *command, const char *a, const char *b)
{
    GString *line = g_string_new("\\builtin eval '");

    for (const char *p = command; *p; p++) {
        if (*p == '\'')
            g_string_append(line, "'\\''");
        else
            g_string_append_c(line, *p);
    }
    g_string_append_printf(line,
                           "' </dev/null; { \\builtin printf '%%s%%s %%d\\n' %s %s \"$?\"; "
                           "\\builtin printf '%%s%%s\\n' %s %s >&3; } 3>&2 2>/dev/null\n",
                           a, b, a, b);
    return g_string_free(line, FALSE);
}

/* The run itself, with the busy flag held. */
static int shell_run(oc_exec_result **out, oc_shell *sh, const char *command, guint timeout_ms,
                     GError **error)
{
    gint64 start = g_get_monotonic_time();
    gint64 deadline = timeout_ms ? start + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND : 0;
    char a[MARK_HALF + 1], b[MARK_HALF + 1];
    g_autofree char *line = NULL;
    oc_error *send_err = NULL;

    g_snprintf(a, sizeof a, "%08x", g_random_int());
    g_snprintf(b, sizeof b, "%08x", g_random_int());
    g_mutex_lock(&sh->lock);
    gboolean lost = !sh->dead && sh->ended && sh->end_status != OC_OK;
    g_mutex_unlock(&sh->lock);
    if (lost && !shell_reattach(sh, error))
        return (*error)->code;
    g_mutex_lock(&sh->lock);
    if (!sh->dead && sh->ended)
        set_dead_from_end(sh);
    if (sh->dead) {
        *error = shell_error(sh, OC_ESTATE, sh->dead);
        g_mutex_unlock(&sh->lock);
        return OC_ESTATE;
    }
    g_snprintf(sh->mark, sizeof sh->mark, "%s%s", a, b);
    stream_reset(&sh->out);
    stream_reset(&sh->err);
    g_mutex_unlock(&sh->lock);

    line = command_line(command, a, b);
    int rc = oc_exec_send_stdin(sh->h, line, strlen(line), &send_err);
    /* The handle may have ended before telling on_end: let that come. */
    if (rc != OC_OK)
        oc_exec_wait(sh->h, SEND_FAIL_WAIT_MS, NULL, NULL);

    g_mutex_lock(&sh->lock);
    while (rc == OC_OK && (sh->out.mark_at < 0 || sh->err.mark_at < 0) && !sh->ended) {
        if (deadline == 0)
            g_cond_wait(&sh->cond, &sh->lock);
        else if (!g_cond_wait_until(&sh->cond, &sh->lock, deadline))
            break;
    }
    if (rc == OC_OK && sh->out.mark_at >= 0 && sh->err.mark_at >= 0) {
        AgentExecResult res = { 0 };
        res.exit_code = sh->out.code;
        res.out = stream_steal(&sh->out, &res.out_truncated);
        res.err = stream_steal(&sh->err, &res.err_truncated);
        res.duration_us = g_get_monotonic_time() - start;
        sh->mark[0] = '\0';
        g_mutex_unlock(&sh->lock);
        *out = exec_result_new(&res);
        return OC_OK;
    }
    sh->mark[0] = '\0';
    stream_reset(&sh->out);
    stream_reset(&sh->err);
    gboolean must_kill = !sh->ended;
    if (sh->ended) {
        set_dead_from_end(sh);
        rc = OC_ESTATE;
        *error = shell_error(sh, rc, sh->dead);
    } else if (rc != OC_OK) {
        /* Part of the line may have gone in: what the shell reads next is
         * unknown. */
        sh->dead = g_strdup_printf("sending it a command failed (%s); open a new one",
                                   oc_error_message(send_err));
        *error = shell_error(sh, rc, sh->dead);
    } else {
        sh->dead = g_strdup_printf("a command timed out after %u ms and the shell was killed; "
                                   "open a new one", timeout_ms);
        rc = OC_ETIMEOUT;
        g_autofree char *msg = g_strdup_printf("the command did not finish in %u ms; the shell "
                                               "was killed, open a new one", timeout_ms);
        *error = shell_error(sh, rc, msg);
    }
    g_mutex_unlock(&sh->lock);
    oc_error_free(send_err);
    if (must_kill)
        oc_exec_kill(sh->sb, sh->session, 0, NULL);
    return rc;
}

OC_API int oc_shell_run(oc_exec_result **out, oc_shell *sh, const char *command,
                        int64_t timeout_ms, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(out && sh, "oc_shell_run: out and sh must not be NULL");
    CHECK_ARG(command && *command, "oc_shell_run: the command is empty; pass a command line");
    CHECK_ARG(timeout_ms >= OC_TIMEOUT_DEFAULT && timeout_ms <= G_MAXUINT32,
              "oc_shell_run: timeout %" G_GINT64_FORMAT " ms is out of range: use "
              "OC_TIMEOUT_DEFAULT (60 s), 0 (none) or up to %u ms", (gint64)timeout_ms,
              G_MAXUINT32);
    if (!g_atomic_int_compare_and_exchange(&sh->busy, 0, 1)) {
        err = shell_error(sh, OC_ESTATE, "shell busy: it is running another command; wait for "
                                         "that one to finish, or open another shell");
        return oc_error_propagate(error, err);
    }
    guint timeout = timeout_ms == OC_TIMEOUT_DEFAULT ? OC_EXEC_DEFAULT_TIMEOUT_MS
                                                     : (guint)timeout_ms;
    int rc = shell_run(out, sh, command, timeout, &err);
    g_atomic_int_set(&sh->busy, 0);
    return rc == OC_OK ? OC_OK : oc_error_propagate(error, err);
}

/* ---- opening and closing ---- */

OC_API int oc_shell_options_init(oc_shell_options *opts, uint32_t version)
{
    if (!opts || version != OC_SHELL_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_shell_options)OC_SHELL_OPTIONS_INIT;
    return OC_OK;
}

static void shell_free(oc_shell *sh)
{
    oc_exec_handle_free(sh->h);
    oc_sandbox_unref(sh->sb);
    if (sh->out.buf)
        g_byte_array_unref(sh->out.buf);
    if (sh->err.buf)
        g_byte_array_unref(sh->err.buf);
    g_free(sh->dead);
    g_mutex_clear(&sh->lock);
    g_cond_clear(&sh->cond);
    g_free(sh);
}

OC_API int oc_shell_open(oc_shell **out, oc_sandbox *sb, const oc_shell_options *opts,
                         oc_error **error)
{
    static const oc_shell_options defaults = OC_SHELL_OPTIONS_INIT;
    /* Not interactive (no prompt, no job control), but aliases work as in
     * a terminal. */
    static const char *const args[] = { "--noprofile", "--norc", "-O", "expand_aliases", NULL };

    CHECK_ARG(out && sb, "oc_shell_open: out and sb must not be NULL");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_SHELL_OPTIONS_VERSION,
              "oc_shell_options version %u is not supported; use OC_SHELL_OPTIONS_INIT",
              opts->version);
    CHECK_ARG(!opts->cwd || *opts->cwd, "oc_shell_open: cwd is empty; pass NULL for /root");

    oc_shell *sh = g_new0(oc_shell, 1);
    g_mutex_init(&sh->lock);
    g_cond_init(&sh->cond);
    stream_reset(&sh->out);
    stream_reset(&sh->err);
    sh->sb = oc_sandbox_ref(sb);
    sh->live = TRUE; /* a new session has no scrollback to skip */
    oc_exec_options eo = OC_EXEC_OPTIONS_INIT;
    eo.args = args;
    eo.envs = opts->envs;
    eo.cwd = opts->cwd;
    eo.timeout_ms = 0;
    const oc_exec_callbacks cb = shell_callbacks(sh);
    int rc = oc_exec_spawn(&sh->h, sb, "/bin/bash", &eo, &cb, error);
    if (rc != OC_OK) {
        shell_free(sh);
        return rc;
    }
    sh->session = oc_exec_handle_session_id(sh->h);
    *out = sh;
    return OC_OK;
}

OC_API uint32_t oc_shell_session_id(const oc_shell *sh)
{
    return sh ? sh->session : 0;
}

OC_API void oc_shell_close(oc_shell *sh)
{
    int state = 0;

    if (!sh)
        return;
    g_mutex_lock(&sh->lock);
    gboolean attached = !sh->ended, exited = sh->ended && sh->end_status == OC_OK;
    g_mutex_unlock(&sh->lock);
    /* A shell whose sandbox was hibernated under it is not worth a wake. */
    if (attached || (!exited && oc_sandbox_status(sh->sb, &state, NULL) == OC_OK &&
                     state == OC_STATE_RUNNING))
        oc_exec_kill(sh->sb, sh->session, 0, NULL);
    shell_free(sh);
}
