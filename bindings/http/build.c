/* build.c: running template builds for the routes. */
#include "build.h"

#include <stdlib.h>
#include <string.h>

/* The library runs one build per state directory at a time anyway; holding
 * this across the check for the name and the build makes "exists?" and
 * "build it" one step, so two creates with the same image build it once. */
static GMutex build_lock;

void http_build_job_init(HttpBuildJob *job, HttpRequest *r, guint stream_status)
{
    memset(job, 0, sizeof *job);
    job->r = r;
    job->stream_status = stream_status;
    job->want_sse = http_sse_wanted(r);
}

/* "[3/7] RUN make" starts step 3; other lines are its output or progress. */
static JsonNode *log_event(HttpBuildJob *job, const char *line)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    const char *type = "log";

    if (line[0] == '[' && g_ascii_isdigit(line[1])) {
        job->step = (guint)strtoul(line + 1, NULL, 10);
        type = g_str_has_suffix(line, "(cached)") ? "cached" : "step";
    }
    json_object_set_int_member(o, "step", job->step);
    json_object_set_string_member(o, "type", type);
    json_object_set_string_member(o, "message", line);
    json_node_take_object(n, o);
    return n;
}

void http_build_log(HttpBuildJob *job, const char *line)
{
    g_autofree char *text = NULL;

    if (!job->want_sse)
        return;
    text = http_utf8(line, strlen(line));
    if (!job->sse)
        job->sse = http_sse_begin(job->r, job->stream_status);
    http_sse_send(job->sse, "build_log", log_event(job, text));
}

static void on_log(const char *line, void *user_data)
{
    http_build_log(user_data, line);
}

/* Templates are built to be started many times: their ready snapshot makes
 * each create a fork instead of a cold boot (measured in docs/server.md).
 * Without one, creates still work, booting. */
static void prepare(HttpBuildJob *job, const char *name)
{
    g_autofree char *line = NULL;
    oc_error *err = NULL;
    int built = 0;

    if (oc_template_prepare(job->r->srv->ctx, name, 0, &built, &err) < 0) {
        line = g_strdup_printf("no ready snapshot of %s (%s): its sandboxes boot cold", name,
                               oc_error_message(err));
        oc_error_free(err);
    } else if (built) {
        line = g_strdup_printf("ready snapshot of %s built: its sandboxes start as forks", name);
    }
    if (line)
        http_build_log(job, line);
}

gboolean http_build_run(HttpBuildJob *job, const char *name, oc_template_build_options *opts,
                        HttpBuildExisting existing)
{
    oc_template_info *t = NULL;
    oc_error *err = NULL;
    int rc;

    g_mutex_lock(&build_lock);
    if (oc_template_get(&t, job->r->srv->ctx, name, NULL) == 0) {
        oc_template_info_free(t);
        if (existing == HTTP_BUILD_REFUSE_EXISTING) {
            g_mutex_unlock(&build_lock);
            g_autofree char *msg = g_strdup_printf("template %s exists; delete it first or "
                                                   "choose another name", name);
            http_build_job_fail_msg(job, 409, msg);
            return FALSE;
        }
        g_autofree char *line = g_strdup_printf("template %s is built already (cached)", name);
        http_build_log(job, line);
        prepare(job, name);
        g_mutex_unlock(&build_lock);
        return TRUE;
    }
    opts->log = on_log;
    opts->log_user_data = job;
    rc = oc_template_build(job->r->srv->ctx, name, opts, &err);
    if (rc == 0)
        prepare(job, name);
    g_mutex_unlock(&build_lock);
    if (rc < 0) {
        http_build_job_fail(job, err);
        return FALSE;
    }
    return TRUE;
}

gboolean http_build_image(HttpBuildJob *job, HttpImage *img, const char *name,
                          HttpBuildExisting existing)
{
    oc_template_build_options opts = OC_TEMPLATE_BUILD_OPTIONS_INIT;
    g_autoptr(GError) error = NULL;

    if (!http_image_write_context(img, &error)) {
        http_build_job_fail_msg(job, 500, error->message);
        return FALSE;
    }
    opts.parent = img->parent;
    opts.steps = (const oc_build_step *)img->steps->data;
    opts.step_count = img->steps->len;
    opts.context_dir = img->context_dir;
    if (img->memory_mb)
        opts.memory_mb = img->memory_mb;
    return http_build_run(job, name, &opts, existing);
}

void http_build_job_done(HttpBuildJob *job, guint status, JsonNode *node)
{
    if (!job->sse) {
        http_reply_json(job->r, status, node);
        return;
    }
    http_sse_send(job->sse, "result", node);
    http_sse_end(job->sse);
    job->sse = NULL;
}

void http_build_job_fail_msg(HttpBuildJob *job, guint status, const char *msg)
{
    JsonObject *o;
    JsonNode *n;

    if (!job->sse) {
        http_reply_error(job->r, status, "%s", msg);
        return;
    }
    o = json_object_new();
    n = json_node_new(JSON_NODE_OBJECT);
    json_object_set_string_member(o, "error", msg);
    json_object_set_int_member(o, "status", status);
    json_node_take_object(n, o);
    http_sse_send(job->sse, "error", n);
    http_sse_end(job->sse);
    job->sse = NULL;
}

void http_build_job_fail(HttpBuildJob *job, oc_error *err)
{
    int code = oc_error_code_of(err);

    http_build_job_fail_msg(job, http_status_of(code),
                            oc_error_message(err) ? oc_error_message(err) : oc_strerror(code));
    oc_error_free(err);
}
