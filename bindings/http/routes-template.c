/* routes-template.c: templates (what sandboxes are made from): list, get,
 * delete, and builds from a Dockerfile (the SDK's Templates.build). */
#include "body.h"
#include "build.h"
#include "handlers.h"

static void add_strv(JsonObject *o, const char *name, const char *const *v)
{
    JsonArray *a = json_array_new();

    for (; v && *v; v++)
        json_array_add_string_element(a, *v);
    json_object_set_array_member(o, name, a);
}

JsonNode *http_json_template(HttpServer *srv, const oc_template_info *t)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    const char *name = oc_template_info_name(t);
    int ready = 0;

    oc_template_snapshot_ready(srv->ctx, name, &ready, NULL);
    /* the SDK's TemplateInfo */
    json_object_set_string_member(o, "templateID", name);
    json_object_set_string_member(o, "name", name);
    json_object_set_string_member(o, "tag", "latest");
    json_object_set_string_member(o, "status", "ready"); /* it exists: sandboxes can start */
    /* what this host knows besides */
    json_object_set_string_member(o, "parent", oc_template_info_parent(t));
    json_object_set_int_member(o, "createdAt", oc_template_info_created_at(t));
    json_object_set_int_member(o, "sizeBytes", (gint64)oc_template_info_size_bytes(t));
    json_object_set_int_member(o, "diskBytes", (gint64)oc_template_info_disk_bytes(t));
    json_object_set_boolean_member(o, "snapshotReady", ready);
    add_strv(o, "steps", oc_template_info_steps(t));
    add_strv(o, "env", oc_template_info_env(t));
    json_object_set_string_member(o, "workdir", oc_template_info_workdir(t));
    json_object_set_string_member(o, "user", oc_template_info_user(t));
    if (oc_template_info_agent(t))
        add_strv(o, "agent", oc_template_info_agent(t)); /* its agent sessions' program */
    json_node_take_object(n, o);
    return n;
}

void http_template_get(HttpRequest *r)
{
    oc_template_info *t = NULL;
    oc_error *err = NULL;

    if (oc_template_get(&t, r->srv->ctx, r->route.sub_id, &err) < 0) {
        http_reply_oc_error(r, err);
        return;
    }
    http_reply_json(r, 200, http_json_template(r->srv, t));
    oc_template_info_free(t);
}

void http_reply_template_list(HttpRequest *r, HttpTemplateJson each)
{
    oc_template_list *list = NULL;
    oc_error *err = NULL;
    JsonArray *a;

    if (oc_template_list_get(&list, r->srv->ctx, 0, &err) < 0) {
        http_reply_oc_error(r, err);
        return;
    }
    a = json_array_new();
    for (size_t i = 0; i < oc_template_list_count(list); i++) {
        JsonNode *n = each(r->srv, oc_template_list_at(list, i));
        if (n)
            json_array_add_element(a, n);
    }
    oc_template_list_free(list);
    http_reply_array(r, a);
}

void http_template_list(HttpRequest *r)
{
    http_reply_template_list(r, http_json_template);
}

/* 409 while anything builds on it (the message names what). */
void http_template_delete(HttpRequest *r)
{
    oc_error *err = NULL;

    if (oc_template_delete(r->srv->ctx, r->route.sub_id, 0, &err) < 0) {
        http_reply_oc_error(r, err);
        return;
    }
    http_snapshot_forget(r->srv, r->route.sub_id); /* when it was one */
    http_reply_empty(r, 204);
}

/* The reply to a build that made template name (or found it). */
static void http_build_reply_template(HttpBuildJob *job, const char *name)
{
    oc_template_info *t = NULL;
    oc_error *err = NULL;

    if (oc_template_get(&t, job->r->srv->ctx, name, &err) < 0) {
        http_build_job_fail(job, err);
        return;
    }
    http_build_job_done(job, 201, http_json_template(job->r->srv, t));
    oc_template_info_free(t);
}

/* {name, dockerfile}: blocks for the build (minutes under TCG) and answers
 * 201 with the template; a client that accepts text/event-stream gets the
 * log as it comes.  The Dockerfile's FROM names the parent; COPY has no
 * context to copy from over HTTP, so it is refused with the library's
 * message. */
void http_template_build(HttpRequest *r)
{
    oc_template_build_options opts = OC_TEMPLATE_BUILD_OPTIONS_INIT;
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL, *dockerfile = NULL;
    HttpBuildJob job;

    if (!http_body_string(r->json, "name", &name, &error) ||
        !http_body_string(r->json, "dockerfile", &dockerfile, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    if (!name || !dockerfile || !*dockerfile) {
        http_reply_error(r, 400, "'name' and 'dockerfile' are required: the template to make "
                         "and its Dockerfile text");
        return;
    }
    opts.dockerfile = dockerfile;
    http_build_job_init(&job, r, 201);
    if (http_build_run(&job, name, &opts, HTTP_BUILD_REFUSE_EXISTING))
        http_build_reply_template(&job, name);
}
