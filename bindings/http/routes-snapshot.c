/* routes-snapshot.c: the SDK's Snapshots: a named template built from an
 * Image.  The template is the snapshot (Sandbox.create({snapshot}) starts
 * from it); what the SDK's SnapshotInfo has besides (the manifest, its
 * hash) is this server's own record, <state-dir>/server/snapshots/NAME.json,
 * kept while the template exists. */
#include "body.h"
#include "build.h"
#include "handlers.h"
#include "route.h"

#include <errno.h>
#include <glib/gstdio.h>

static char *record_path(HttpServer *srv, const char *name)
{
    g_autofree char *dir = http_server_state_path(srv->cfg->state_dir, "snapshots");
    g_autofree char *file = g_strconcat(name, ".json", NULL);

    return g_build_filename(dir, file, NULL);
}

static gboolean save_record(HttpServer *srv, const char *name, JsonObject *rec, GError **error)
{
    g_autofree char *path = record_path(srv, name);
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot make %s: %s", dir,
                    g_strerror(e));
        return FALSE;
    }
    json_node_set_object(root, rec);
    text = json_to_string(root, FALSE);
    return g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT |
                                    G_FILE_SET_CONTENTS_DURABLE, 0600, error);
}

/* The record of snapshot name, or NULL (no such snapshot, or a template the
 * server did not build from an image). */
static JsonObject *load_record(HttpServer *srv, const char *name)
{
    g_autofree char *path = record_path(srv, name);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;

    if (!json_parser_load_from_file(parser, path, NULL))
        return NULL;
    root = json_parser_get_root(parser);
    return root && JSON_NODE_HOLDS_OBJECT(root) ? json_object_ref(json_node_get_object(root))
                                                : NULL;
}

/* The SDK's SnapshotInfo from the template and the record. */
static JsonNode *snapshot_json(const oc_template_info *t, JsonObject *rec)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    const char *name = oc_template_info_name(t);
    g_autofree char *created = http_iso_time(oc_template_info_created_at(t));
    JsonNode *manifest = json_object_dup_member(rec, "manifest");

    json_object_set_string_member(o, "id", name);
    json_object_set_string_member(o, "orgId", "");
    json_object_set_string_member(o, "name", name);
    json_object_set_string_member(o, "contentHash", json_object_get_string_member_with_default(
                                                        rec, "contentHash", ""));
    json_object_set_string_member(o, "checkpointId", "");
    json_object_set_string_member(o, "status", "ready");
    if (!manifest) {
        manifest = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(manifest, json_object_new());
    }
    json_object_set_member(o, "manifest", manifest);
    json_object_set_string_member(o, "createdAt", created);
    json_object_set_string_member(o, "lastUsedAt", created);
    json_object_set_string_member(o, "templateID", name);
    json_node_take_object(n, o);
    return n;
}

/* {name, image}: builds the image into template name (409 if it exists). */
void http_snapshot_create(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    JsonNode *in = json_object_get_member(r->json, "image");
    HttpImage img;
    HttpBuildJob job;
    oc_template_info *t = NULL;
    oc_error *err = NULL;
    JsonObject *rec;

    if (!http_body_string(r->json, "name", &name, &error) || !name || !in ||
        !JSON_NODE_HOLDS_OBJECT(in)) {
        http_reply_error(r, 400, "%s", error ? error->message
                                             : "'name' and 'image' (Image.toJSON()) are required");
        return;
    }
    /* the name becomes a file name here as well as the template's */
    if (!http_valid_name(name)) {
        http_reply_error(r, 400, "snapshot name '%s' is not valid: use [a-z0-9][a-z0-9._-]{0,63}",
                         name);
        return;
    }
    if (!http_image_parse(json_node_get_object(in), &img, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        http_image_clear(&img);
        return;
    }
    http_build_job_init(&job, r, 201);
    if (!http_build_image(&job, &img, name, HTTP_BUILD_REFUSE_EXISTING)) {
        http_image_clear(&img);
        return;
    }
    rec = json_object_new();
    json_object_set_string_member(rec, "contentHash", img.hash);
    json_object_set_member(rec, "manifest", json_node_copy(in));
    if (!save_record(r->srv, name, rec, &error) ||
        oc_template_get(&t, r->srv->ctx, name, &err) < 0) {
        /* the template is built; the error says what is missing */
        if (!error)
            http_build_job_fail(&job, err);
        else
            http_build_job_fail_msg(&job, 500, error->message);
    } else {
        http_build_job_done(&job, 201, snapshot_json(t, rec));
    }
    oc_template_info_free(t);
    json_object_unref(rec);
    http_image_clear(&img);
}

/* A template the server built as a snapshot, or NULL. */
static JsonNode *snapshot_of(HttpServer *srv, const oc_template_info *t)
{
    JsonObject *rec = load_record(srv, oc_template_info_name(t));
    JsonNode *n;

    if (!rec)
        return NULL;
    n = snapshot_json(t, rec);
    json_object_unref(rec);
    return n;
}

void http_snapshot_list(HttpRequest *r)
{
    http_reply_template_list(r, snapshot_of);
}

void http_snapshot_get(HttpRequest *r)
{
    JsonObject *rec = load_record(r->srv, r->route.sub_id);
    oc_template_info *t = NULL;
    oc_error *err = NULL;

    if (!rec) {
        http_reply_error(r, 404, "no snapshot named %s", r->route.sub_id);
        return;
    }
    if (oc_template_get(&t, r->srv->ctx, r->route.sub_id, &err) < 0)
        http_reply_oc_error(r, err);
    else
        http_reply_json(r, 200, snapshot_json(t, rec));
    oc_template_info_free(t);
    json_object_unref(rec);
}

void http_snapshot_forget(HttpServer *srv, const char *name)
{
    g_autofree char *path = record_path(srv, name);

    g_unlink(path);
}

/* Deletes the template (409 while sandboxes use it) and the record. */
void http_snapshot_delete(HttpRequest *r)
{
    JsonObject *rec = load_record(r->srv, r->route.sub_id);
    oc_error *err = NULL;

    if (!rec) {
        http_reply_error(r, 404, "no snapshot named %s", r->route.sub_id);
        return;
    }
    json_object_unref(rec);
    if (oc_template_delete(r->srv->ctx, r->route.sub_id, 0, &err) < 0 &&
        oc_error_code_of(err) != OC_ENOTFOUND) {
        http_reply_oc_error(r, err);
        return;
    }
    oc_error_free(err);
    http_snapshot_forget(r->srv, r->route.sub_id);
    http_reply_empty(r, 200);
}
