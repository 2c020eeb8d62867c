/* buildsteps.c: running a build's steps in its sandbox through the agent
 * (RUN and APT as sessions whose output is followed live, COPY with file
 * writes), and freezing the disk after each as a layer. */
#include "core/build.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/buildlayers.h"
#include "image/store.h"
#include "util/crashpoint.h"
#include "util/durable.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"
#include "virt/overlay.h"
#include "virt/snapshot.h"

/* The last lines of a failed step that its error quotes. */
#define TAIL_LINES 10
/* A longer output line is cut in the log and the error. */
#define MAX_LINE 2000
/* How long the agent may take to accept an attach. */
#define ATTACH_TIMEOUT_MS 30000
/* Slack on top of a step's own timeout before the host gives up on it. */
#define HOST_SLACK_US (60 * G_USEC_PER_SEC)
/* COPY: how deep a copied directory may go, and arguments per chown. */
#define MAX_COPY_DEPTH 128
#define CHOWN_BATCH 256

gboolean build_step_changes_disk(const BuildStep *step)
{
    return step->kind == BUILD_RUN || step->kind == BUILD_APT || step->kind == BUILD_COPY ||
           step->kind == BUILD_WORKDIR;
}

/* ---- following a process's output ---- */

typedef struct {
    BuildRun *b;
    GString *partial[3]; /* by channel: a line not ended yet */
    GQueue tail;         /* the last TAIL_LINES lines (char *) */
} Output;

static void output_line(Output *o, const char *line, gsize len)
{
    g_autofree char *text = g_strndup(line, MIN(len, MAX_LINE));

    build_log(o->b, "%s", text);
    g_queue_push_tail(&o->tail, g_steal_pointer(&text));
    if (o->tail.length > TAIL_LINES)
        g_free(g_queue_pop_head(&o->tail));
}

static void output_add(Output *o, guint8 chan, const guint8 *data, gsize len)
{
    GString *p = o->partial[chan == 2 ? 2 : 1];

    for (gsize i = 0; i < len; i++) {
        if (data[i] == '\n') {
            output_line(o, p->str, p->len);
            g_string_truncate(p, 0);
        } else if (data[i] != '\r' && p->len < MAX_LINE) {
            g_string_append_c(p, (char)data[i]);
        }
    }
}

static void output_flush(Output *o)
{
    for (int c = 1; c <= 2; c++)
        if (o->partial[c]->len)
            output_line(o, o->partial[c]->str, o->partial[c]->len);
}

static char *output_tail(Output *o)
{
    GString *s = g_string_new(NULL);
    for (GList *l = o->tail.head; l; l = l->next)
        g_string_append_printf(s, "\n  %s", (char *)l->data);
    return g_string_free(s, FALSE);
}

/* The step's environment: the guest's defaults, the template's so far, and
 * the step's own (a Dockerfile's ARGs). */
static char **step_env(BuildRun *b, const BuildStep *step)
{
    g_autoptr(GPtrArray) extra = g_ptr_array_new();
    for (guint i = 0; i < b->env->len; i++)
        g_ptr_array_add(extra, b->env->pdata[i]);
    for (char **e = step->env; e && *e; e++)
        g_ptr_array_add(extra, *e);
    g_ptr_array_add(extra, NULL);
    return core_sandbox_exec_env(b->sb, (const char *const *)extra->pdata);
}

/* Runs req as a session and logs its output live; a non-zero exit is an
 * error that quotes the output's last lines. */
static gboolean run_process(BuildRun *b, AgentConn *conn, const AgentExecRequest *req,
                            const char *what, GError **error)
{
    Output o = { .b = b };
    AgentExecResult res = { 0 };
    AgentAttach *a = NULL;
    guint32 id, pid;
    gboolean ok = FALSE;
    gint64 deadline = req->timeout_ms ? g_get_monotonic_time() + req->timeout_ms * 1000ll +
                                            HOST_SLACK_US
                                      : G_MAXINT64;

    for (int c = 1; c <= 2; c++)
        o.partial[c] = g_string_new(NULL);
    g_queue_init(&o.tail);
    if (agent_session_start(conn, req, &id, &pid, error))
        a = agent_attach_open(conn, id, ATTACH_TIMEOUT_MS, error);
    if (!a)
        goto out;
    for (;;) {
        AgentEvent *ev = agent_attach_next(a, MIN(deadline, g_get_monotonic_time() +
                                                                G_USEC_PER_SEC));
        gboolean end = ev && ev->kind == AGENT_EVENT_END;
        if (ev && ev->kind == AGENT_EVENT_OUTPUT)
            output_add(&o, ev->chan, ev->data, ev->len);
        agent_attach_event_free(a, ev);
        if (end)
            break;
        if (!ev && g_get_monotonic_time() >= deadline) {
            agent_session_kill(conn, id, 0, NULL);
            g_set_error(error, OC_ERROR, OC_ETIMEOUT, "%s: the guest did not end it in time",
                        what);
            goto out;
        }
    }
    output_flush(&o);
    if (agent_attach_outcome(a, &res, error) != AGENT_ATTACH_EXITED)
        goto out;
    if (res.exit_code != 0) {
        g_autofree char *tail = output_tail(&o);
        g_set_error(error, OC_ERROR, OC_ECOMMAND, "%s %s with exit code %d%s%s", what,
                    res.timed_out ? "timed out" : "failed", res.exit_code,
                    o.tail.length ? "; its last output:" : " and no output", tail);
        goto out;
    }
    ok = TRUE;
out:
    agent_attach_free(a);
    agent_exec_result_clear(&res);
    for (int c = 1; c <= 2; c++)
        g_string_free(o.partial[c], TRUE);
    g_queue_clear_full(&o.tail, g_free);
    return ok;
}

/* A tool the step needs from the image, run to completion quietly. */
static gboolean run_tool(BuildRun *b, AgentConn *conn, const char *const *argv, GError **error)
{
    g_auto(GStrv) env = core_sandbox_exec_env(b->sb, NULL);
    AgentExecRequest req = { .argv = argv, .env = (const char *const *)env,
                             .timeout_ms = 600000 };
    AgentExecResult res = { 0 };
    gboolean ok = agent_exec_run(conn, &req, &res, error);

    if (ok && res.exit_code != 0) {
        g_autofree char *err = g_strndup((const char *)res.err->data, MIN(res.err->len, 500));
        g_set_error(error, OC_ERROR, OC_ECOMMAND, "%s in the guest failed with exit code %d: %s",
                    argv[0], res.exit_code, g_strstrip(err));
        ok = FALSE;
    }
    agent_exec_result_clear(&res);
    return ok;
}

static guint timeout_ms(BuildRun *b)
{
    return (guint)MIN((guint64)b->opts->step_timeout_s * 1000, G_MAXUINT32);
}

static gboolean step_run(BuildRun *b, AgentConn *conn, const BuildStep *step, GError **error)
{
    g_auto(GStrv) env = step_env(b, step);
    AgentExecRequest req = { .env = (const char *const *)env, .cwd = b->workdir,
                             .user = b->user, .timeout_ms = timeout_ms(b) };

    if (step->exec_form)
        req.argv = (const char *const *)step->args;
    else
        req.command = step->args[0];
    return run_process(b, conn, &req, "the command", error);
}

/* Each APT step updates the package lists and removes them (and the
 * downloaded .debs) when done, so that they stay out of the template.
 * Measured for `jq` under TCG (50 to 70 s, mostly the update): the
 * template's disk took 170 MB with them kept, 131 MB with them deleted,
 * 6 MB deleted and trimmed (guest_sync()).  Keeping them between steps
 * would save a second update, but a step's layer would then depend on
 * whether a later APT step follows, which its cache key does not say. */
static gboolean step_apt(BuildRun *b, AgentConn *conn, const BuildStep *step, GError **error)
{
    g_auto(GStrv) env = step_env(b, step);
    g_autofree char *packages = g_strjoinv(" ", step->args); /* checked names: no quoting */
    g_autofree char *command = g_strdup_printf(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
        "--no-install-recommends %s && apt-get clean && rm -rf /var/lib/apt/lists/*", packages);
    /* as root: installing is the point, whatever USER says */
    AgentExecRequest req = { .command = command, .env = (const char *const *)env,
                             .timeout_ms = timeout_ms(b) };

    return run_process(b, conn, &req, "apt-get", error);
}

/* ---- COPY ---- */

typedef struct {
    BuildRun *b;
    AgentConn *conn;
    const BuildStep *step;
    GPtrArray *made; /* guest paths copied, for --chown */
} Copy;

static gssize read_fd(void *buf, gsize cap, gpointer data, GError **error)
{
    int fd = GPOINTER_TO_INT(data);
    ssize_t n;

    do
        n = read(fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read the file to copy: %s",
                    g_strerror(errno));
    return n;
}

static guint32 copy_mode(const Copy *c, const struct stat *st)
{
    return c->step->chmod ? c->step->chmod : st->st_mode & 07777;
}

static gboolean copy_path(Copy *c, const char *host, const char *guest, int depth,
                          GError **error);

static gboolean copy_dir_contents(Copy *c, const char *host, const char *guest, int depth,
                                  GError **error)
{
    g_autoptr(GDir) d = g_dir_open(host, 0, error);
    const char *n;

    if (!d)
        return FALSE;
    while ((n = g_dir_read_name(d))) {
        g_autofree char *h = g_build_filename(host, n, NULL);
        g_autofree char *g = g_build_filename(guest, n, NULL);
        if (!copy_path(c, h, g, depth + 1, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean copy_path(Copy *c, const char *host, const char *guest, int depth,
                          GError **error)
{
    struct stat st;
    gboolean ok;

    if (depth > MAX_COPY_DEPTH) {
        g_set_error(error, OC_ERROR, OC_ELIMIT, "%s: more than %d directories deep", host,
                    MAX_COPY_DEPTH);
        return FALSE;
    }
    if (lstat(host, &st) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read %s: %s", host, g_strerror(errno));
        return FALSE;
    }
    g_ptr_array_add(c->made, g_strdup(guest));
    if (S_ISDIR(st.st_mode)) {
        return agent_file_mkdir(c->conn, guest, copy_mode(c, &st), TRUE, error) &&
               copy_dir_contents(c, host, guest, depth, error);
    }
    if (S_ISLNK(st.st_mode)) {
        g_autofree char *target = g_file_read_link(host, error);
        const char *argv[] = { "ln", "-sfn", target, guest, NULL };
        return target && run_tool(c->b, c->conn, argv, error);
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is not a file, directory or symlink", host);
        return FALSE;
    }
    int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot open %s: %s", host, g_strerror(errno));
        return FALSE;
    }
    ok = agent_file_write(c->conn, guest, copy_mode(c, &st), read_fd, GINT_TO_POINTER(fd), NULL,
                          error);
    close(fd);
    return ok;
}

static gboolean chown_made(Copy *c, GError **error)
{
    for (guint i = 0; i < c->made->len; i += CHOWN_BATCH) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_ptr_array_add(argv, "chown");
        g_ptr_array_add(argv, "-h");
        g_ptr_array_add(argv, c->step->chown);
        for (guint k = i; k < c->made->len && k < i + CHOWN_BATCH; k++)
            g_ptr_array_add(argv, c->made->pdata[k]);
        g_ptr_array_add(argv, NULL);
        if (!run_tool(c->b, c->conn, (const char *const *)argv->pdata, error))
            return FALSE;
    }
    return TRUE;
}

/* Docker's rules: a relative destination is under WORKDIR; it is a
 * directory when it ends in '/', or there are several sources, or the
 * source is a directory (whose contents go into it). */
static gboolean step_copy(BuildRun *b, AgentConn *conn, const BuildStep *step, GError **error)
{
    guint n = g_strv_length(step->args);
    const char *dest_arg = step->args[n - 1];
    g_autofree char *dest = g_path_is_absolute(dest_arg)
                                ? g_strdup(dest_arg)
                                : g_build_filename(b->workdir ? b->workdir : "/", dest_arg, NULL);
    Copy c = { .b = b, .conn = conn, .step = step,
               .made = g_ptr_array_new_with_free_func(g_free) };
    gboolean into_dir = g_str_has_suffix(dest_arg, "/") || n > 2;
    gboolean ok = TRUE;

    for (guint k = 0; ok && k + 1 < n; k++) {
        g_autofree char *host = g_build_filename(b->spec->context_dir, step->args[k], NULL);
        g_autofree char *base = g_path_get_basename(host);
        g_autofree char *parent = NULL, *target = NULL;
        gboolean dir = g_file_test(host, G_FILE_TEST_IS_DIR) &&
                       !g_file_test(host, G_FILE_TEST_IS_SYMLINK);
        target = dir || !into_dir ? g_strdup(dest) : g_build_filename(dest, base, NULL);
        parent = g_path_get_dirname(target);
        ok = agent_file_mkdir(conn, dir ? target : parent, 0755, TRUE, error) &&
             (dir ? copy_dir_contents(&c, host, target, 0, error)
                  : copy_path(&c, host, target, 0, error));
        if (ok && dir)
            g_ptr_array_add(c.made, g_strdup(target));
    }
    if (ok && step->chown)
        ok = chown_made(&c, error);
    g_ptr_array_unref(c.made);
    return ok;
}

gboolean build_step_run(BuildRun *b, const BuildStep *step, GError **error)
{
    CoreCall call;
    gboolean ok;

    if (!core_call_begin(b->sb, &call, error))
        return FALSE;
    switch (step->kind) {
    case BUILD_RUN:
        ok = step_run(b, call.conn, step, error);
        break;
    case BUILD_APT:
        ok = step_apt(b, call.conn, step, error);
        break;
    case BUILD_COPY:
        ok = step_copy(b, call.conn, step, error);
        break;
    case BUILD_WORKDIR:
        ok = agent_file_mkdir(call.conn, step->args[0], 0755, TRUE, error);
        break;
    default:
        g_set_error(error, OC_ERROR, OC_EINVAL, "step kind %d does not run in the guest",
                    (int)step->kind);
        ok = FALSE;
    }
    core_call_end(b->sb, &call);
    return ok;
}

/* ---- layers ---- */

/* sync, then fstrim: the disk is attached with discard, so blocks the step
 * freed (files it wrote and removed, apt's lists) stop taking space in
 * its layer and in the template.  Without fstrim in the image it is only
 * the sync. */
static gboolean guest_sync(BuildRun *b, GError **error)
{
    static const char *const argv[] = {
        "sh", "-c", "sync && { ! command -v fstrim >/dev/null || fstrim / >/dev/null 2>&1 || "
                    "true; }", NULL
    };
    CoreCall call;
    gboolean ok;

    if (!core_call_begin(b->sb, &call, error))
        return FALSE;
    ok = run_tool(b, call.conn, argv, error);
    core_call_end(b->sb, &call);
    return ok;
}

gboolean build_layer_capture(BuildRun *b, const char *key, const char *what, GError **error)
{
    const char *state = b->ctx->state_dir;
    g_autofree char *active = NULL, *layer = image_layer_path(state, key);
    g_autofree char *dir = image_sandbox_dir(state, b->sb->id);
    g_autofree char *leaf = g_strdup_printf("disk-%08x.qcow2", g_random_int());
    g_autofree char *overlay = g_build_filename(dir, leaf, NULL);

    /* What the guest still caches would not be in the frozen disk. */
    if (!guest_sync(b, error) || !(active = virt_domain_disk_path(b->sb->dom, error)))
        return FALSE;
    g_unlink(layer); /* a commit that failed; its json is not there */
    /* The disk keeps its inode; the cache gets its own name for it, which
     * the next overlay records as its backing. */
    if (link(active, layer) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot link %s to %s: %s", active, layer,
                    g_strerror(errno));
        return FALSE;
    }
    crash_point("build", "linked");
    if (!virt_overlay_create(overlay, layer, error) ||
        !virt_snapshot_disk_only(b->sb->dom, overlay, error)) {
        g_unlink(overlay);
        g_unlink(layer);
        return FALSE;
    }
    crash_point("build", "frozen");
    if (!durable_sync(layer, error) || !image_layer_commit(state, key, what, error)) {
        image_layer_discard(state, key);
        return FALSE;
    }
    crash_point("build", "layer");
    return TRUE;
}
