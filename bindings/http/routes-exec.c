/* routes-exec.c: commands.  run-async runs the command on an exec thread
 * and waits up to exec-wait-ms for it: a quick command's result comes back
 * inline (one round trip; the SDK takes a result without execId as final),
 * a slow one's through GET .../exec/:execId/result. */
#include "body.h"
#include "handlers.h"
#include "json-out.h"
#include "sandboxes.h"

#include <stdlib.h>

/* Finished results are kept this long for the SDK's polls, at most this
 * many commands are tracked at once, and each keeps at most this much of
 * each stream (the rest is dropped and the result says "truncated"): the
 * server's memory stays bounded whatever clients run. */
#define EXEC_KEEP_US (10 * G_USEC_PER_SEC * 60)
#define EXEC_MAX_TRACKED 1024
#define EXEC_MAX_OUTPUT (4u * 1024u * 1024u)

typedef struct {
    gint refs;
    char *id;
    char *sandbox_id;
    GMutex lock;
    GCond done_cond;
    gboolean done;
    gint64 done_at;
    oc_exec_result *result; /* when done and it ran */
    char *error;            /* when done and it could not run */
    int code;               /* and the library's code for it */
    /* the command */
    oc_sandbox *sb;
    HttpExecBody body;
} ExecJob;

struct HttpExecTable {
    GMutex lock;
    GHashTable *jobs; /* id -> ExecJob* */
    GThreadPool *runners;
    guint64 next;
};

static void job_unref(ExecJob *job)
{
    if (!g_atomic_int_dec_and_test(&job->refs))
        return;
    g_free(job->id);
    g_free(job->sandbox_id);
    oc_exec_result_free(job->result);
    g_free(job->error);
    oc_sandbox_unref(job->sb);
    http_exec_body_clear(&job->body);
    g_mutex_clear(&job->lock);
    g_cond_clear(&job->done_cond);
    g_free(job);
}

static void run_job(gpointer data, gpointer unused)
{
    ExecJob *job = data;
    oc_exec_options opts = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *res = NULL;
    oc_error *err = NULL;
    const char *command = job->body.cmd;
    int rc;

    /* sh -c CMD, as exec.run sends, is what the library does with a bare
     * command: skip building the argv */
    if (g_strcmp0(command, "sh") == 0 && job->body.args && g_strv_length(job->body.args) == 2 &&
        g_strcmp0(job->body.args[0], "-c") == 0)
        command = job->body.args[1];
    else
        opts.args = (const char *const *)job->body.args;
    opts.envs = (const char *const *)job->body.envs;
    opts.cwd = job->body.cwd;
    opts.max_output = EXEC_MAX_OUTPUT;
    if (job->body.timeout_s >= 0)
        opts.timeout_ms = job->body.timeout_s * 1000;
    rc = oc_exec_run(&res, job->sb, command, &opts, &err);
    g_mutex_lock(&job->lock);
    if (rc < 0) {
        job->error = g_strdup(oc_error_message(err));
        job->code = oc_error_code_of(err);
        oc_error_free(err);
    } else {
        job->result = res;
    }
    job->done = TRUE;
    job->done_at = g_get_monotonic_time();
    g_cond_broadcast(&job->done_cond);
    g_mutex_unlock(&job->lock);
    job_unref(job);
}

HttpExecTable *http_exec_table_new(void)
{
    HttpExecTable *t = g_new0(HttpExecTable, 1);

    g_mutex_init(&t->lock);
    t->jobs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)job_unref);
    t->runners = g_thread_pool_new(run_job, NULL, 256, FALSE, NULL);
    return t;
}

void http_exec_table_free(HttpExecTable *t)
{
    /* commands still running hold their own references: do not wait out
     * their timeouts on shutdown */
    g_thread_pool_free(t->runners, TRUE, FALSE);
    g_hash_table_unref(t->jobs);
    g_mutex_clear(&t->lock);
    g_free(t);
}

/* Drops results older than EXEC_KEEP_US; the caller holds t->lock. */
static void prune(HttpExecTable *t)
{
    gint64 now = g_get_monotonic_time();
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, t->jobs);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        ExecJob *job = v;
        gboolean old;

        g_mutex_lock(&job->lock);
        old = job->done && now - job->done_at > EXEC_KEEP_US;
        g_mutex_unlock(&job->lock);
        if (old)
            g_hash_table_iter_remove(&it);
    }
}

/* {exitCode, stdout, stderr} of a finished job, or the error. */
static void reply_finished(HttpRequest *r, ExecJob *job, gboolean with_id)
{
    JsonObject *o;
    JsonNode *n;

    if (job->error)
        http_sandbox_check_gone(r->srv, job->sandbox_id, job->code);
    if (job->error && !with_id) {
        http_reply_error(r, http_status_of(job->code), "%s", job->error);
        return;
    }
    o = job->result ? http_json_exec_result(job->result) : json_object_new();
    if (job->error)
        json_object_set_string_member(o, "error", job->error);
    if (with_id)
        json_object_set_string_member(o, "execId", job->id);
    json_object_set_boolean_member(o, "running", FALSE);
    n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    http_reply_json(r, 200, n);
}

static void reply_running(HttpRequest *r, ExecJob *job, guint status)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "execId", job->id);
    json_object_set_boolean_member(o, "running", TRUE);
    json_node_take_object(n, o);
    http_reply_json(r, status, n);
}

/* Starts the command; NULL with the error replied. */
static ExecJob *start_job(HttpRequest *r)
{
    HttpExecTable *t = r->srv->execs;
    g_autoptr(GError) error = NULL;
    ExecJob *job = g_new0(ExecJob, 1);

    job->refs = 1;
    g_mutex_init(&job->lock);
    g_cond_init(&job->done_cond);
    if (!http_body_exec(r->json, &job->body, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        job_unref(job);
        return NULL;
    }
    job->sb = http_sandbox_open(r);
    if (!job->sb) {
        job_unref(job);
        return NULL;
    }
    job->sandbox_id = g_strdup(r->route.sandbox_id);
    g_mutex_lock(&t->lock);
    prune(t);
    if (g_hash_table_size(t->jobs) >= EXEC_MAX_TRACKED) {
        g_mutex_unlock(&t->lock);
        http_reply_error(r, 429, "%u commands are running or awaiting collection; try later",
                         EXEC_MAX_TRACKED);
        job_unref(job);
        return NULL;
    }
    job->id = g_strdup_printf("ex-%" G_GUINT64_FORMAT "%04x", ++t->next, g_random_int() & 0xffff);
    g_atomic_int_add(&job->refs, 2); /* the table's and the runner's */
    g_hash_table_insert(t->jobs, job->id, job);
    g_mutex_unlock(&t->lock);
    g_thread_pool_push(t->runners, job, NULL);
    return job;
}

static void forget_job(HttpExecTable *t, ExecJob *job)
{
    g_mutex_lock(&t->lock);
    g_hash_table_remove(t->jobs, job->id);
    g_mutex_unlock(&t->lock);
}

void http_exec_run_async(HttpRequest *r)
{
    ExecJob *job = start_job(r);
    gint64 until;
    gboolean done;

    if (!job)
        return;
    until = g_get_monotonic_time() + (gint64)r->srv->cfg->exec_wait_ms * 1000;
    g_mutex_lock(&job->lock);
    while (!job->done && g_cond_wait_until(&job->done_cond, &job->lock, until))
        ;
    done = job->done;
    g_mutex_unlock(&job->lock);
    if (done) {
        /* answered inline: nobody will poll for it */
        forget_job(r->srv->execs, job);
        reply_finished(r, job, FALSE);
    } else {
        reply_running(r, job, 202);
    }
    job_unref(job);
}

/* The older synchronous route: waits for the end. */
void http_exec_run(HttpRequest *r)
{
    ExecJob *job = start_job(r);

    if (!job)
        return;
    g_mutex_lock(&job->lock);
    while (!job->done)
        g_cond_wait(&job->done_cond, &job->lock);
    g_mutex_unlock(&job->lock);
    forget_job(r->srv->execs, job);
    reply_finished(r, job, FALSE);
    job_unref(job);
}

void http_exec_result(HttpRequest *r)
{
    HttpExecTable *t = r->srv->execs;
    ExecJob *job;
    gboolean done;

    g_mutex_lock(&t->lock);
    job = g_hash_table_lookup(t->jobs, r->route.sub_id);
    if (job && g_strcmp0(job->sandbox_id, r->route.sandbox_id) != 0)
        job = NULL;
    if (job)
        g_atomic_int_inc(&job->refs);
    g_mutex_unlock(&t->lock);
    if (!job) {
        http_reply_error(r, 404, "no command %s in sandbox %s (results are kept %d minutes)",
                         r->route.sub_id, r->route.sandbox_id, (int)(EXEC_KEEP_US / 60000000));
        return;
    }
    g_mutex_lock(&job->lock);
    done = job->done;
    g_mutex_unlock(&job->lock);
    if (done) {
        reply_finished(r, job, TRUE);
    } else {
        reply_running(r, job, 200);
    }
    job_unref(job);
}
