/* checkpoints.c: checkpoint and template snapshot records on disk. */
#include "image/checkpoints.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/durable.h"
#include "util/error.h"
#include "util/lockfile.h"

#define META_FILE "checkpoint.json"

void image_checkpoint_free(ImageCheckpoint *cp)
{
    if (!cp)
        return;
    g_free(cp->id);
    g_free(cp->name);
    g_free(cp->sandbox_id);
    g_free(cp->template_name);
    g_free(cp->key);
    g_free(cp->dir);
    net_policy_free(cp->network);
    g_free(cp);
}

char *image_checkpoint_new_id(void)
{
    return g_strdup_printf("cp-%08x%04x", g_random_int(), g_random_int() & 0xffff);
}

static gboolean valid_id(const char *id)
{
    if (strlen(id) != 15 || !g_str_has_prefix(id, "cp-"))
        return FALSE;
    for (const char *p = id + 3; *p; p++)
        if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
            return FALSE;
    return TRUE;
}

char *image_checkpoint_dir(const char *state_dir, const char *id)
{
    return g_build_filename(state_dir, "checkpoints", id, NULL);
}

char *image_checkpoint_file(const ImageCheckpoint *cp, const char *name)
{
    return g_build_filename(cp->dir, name, NULL);
}

static const char *member_str(JsonObject *o, const char *k)
{
    JsonNode *n = json_object_get_member(o, k);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

static gint64 member_int(JsonObject *o, const char *k)
{
    JsonNode *n = json_object_get_member(o, k);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64
               ? json_node_get_int(n) : -1;
}

/* "network": {"blockAll": true, "allowOut": [...], "denyOut": [...]} */
static void strv_to_json(JsonBuilder *b, const char *name, char **v)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (char **p = v; p && *p; p++)
        json_builder_add_string_value(b, *p);
    json_builder_end_array(b);
}

static void network_to_json(JsonBuilder *b, const NetPolicy *p)
{
    if (!p)
        return;
    json_builder_set_member_name(b, "network");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "blockAll");
    json_builder_add_boolean_value(b, p->block_all);
    strv_to_json(b, "allowOut", p->allow_out);
    strv_to_json(b, "denyOut", p->deny_out);
    json_builder_end_object(b);
}

static char **strv_from_json(JsonObject *o, const char *name)
{
    JsonArray *a = json_object_has_member(o, name) ? json_object_get_array_member(o, name)
                                                   : NULL;
    GPtrArray *v = g_ptr_array_new();

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        const char *s = json_node_get_string(json_array_get_element(a, i));
        if (s)
            g_ptr_array_add(v, g_strdup(s));
    }
    g_ptr_array_add(v, NULL);
    return (char **)g_ptr_array_free(v, FALSE);
}

/* The policy as written; what is not an object is taken as none. */
static NetPolicy *network_from_json(JsonObject *cp)
{
    JsonNode *n = json_object_get_member(cp, "network");
    JsonObject *o = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    NetPolicy *p;

    if (!o)
        return NULL;
    p = net_policy_new();
    p->block_all = json_object_get_boolean_member_with_default(o, "blockAll", FALSE);
    p->allow_out = strv_from_json(o, "allowOut");
    p->deny_out = strv_from_json(o, "denyOut");
    return p;
}

ImageCheckpoint *image_checkpoint_load_dir(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, META_FILE, NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(ImageCheckpoint) cp = g_new0(ImageCheckpoint, 1);
    GError *err = NULL;
    JsonNode *root;
    JsonObject *o;

    if (!json_parser_load_from_file(parser, path, &err)) {
        gboolean missing = g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
        g_set_error(error, OC_ERROR, missing ? OC_ENOTFOUND : OC_EIO, "cannot read %s: %s", path,
                    err->message);
        g_error_free(err);
        return NULL;
    }
    root = json_parser_get_root(parser);
    o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    if (!o || !member_str(o, "id") || !member_str(o, "template") || member_int(o, "cpus") <= 0 ||
        member_int(o, "memoryMB") <= 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "%s is damaged: it lacks id, template or sizes",
                    path);
        return NULL;
    }
    cp->id = g_strdup(member_str(o, "id"));
    cp->name = g_strdup(member_str(o, "name") ? member_str(o, "name") : "");
    cp->sandbox_id = g_strdup(member_str(o, "sandbox"));
    cp->template_name = g_strdup(member_str(o, "template"));
    cp->key = g_strdup(member_str(o, "key"));
    cp->created = MAX(member_int(o, "createdAt"), 0);
    cp->cpu_count = (guint32)member_int(o, "cpus");
    cp->memory_mb = (guint32)member_int(o, "memoryMB");
    cp->size_bytes = (guint64)MAX(member_int(o, "sizeBytes"), 0);
    cp->dir = g_strdup(dir);
    cp->network = network_from_json(o);
    return g_steal_pointer(&cp);
}

ImageCheckpoint *image_checkpoint_load(const char *state_dir, const char *id, GError **error)
{
    g_autofree char *dir = NULL;
    GError *err = NULL;
    ImageCheckpoint *cp;

    if (!id || !valid_id(id)) {
        g_set_error(error, OC_ERROR, OC_EINVAL,
                    "invalid checkpoint id '%s': expected cp- and 12 hex digits", id ? id : "");
        return NULL;
    }
    dir = image_checkpoint_dir(state_dir, id);
    cp = image_checkpoint_load_dir(dir, &err);
    if (!cp && err->code == OC_ENOTFOUND) {
        g_clear_error(&err);
        g_set_error(&err, OC_ERROR, OC_ENOTFOUND, "no checkpoint with id '%s' (it was deleted, "
                    "or never existed); `oc checkpoint list` lists the checkpoints", id);
    }
    if (err)
        g_propagate_error(error, err);
    return cp;
}

gboolean image_checkpoint_commit(const ImageCheckpoint *cp, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *path = image_checkpoint_file(cp, META_FILE);
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, cp->id);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, cp->name);
    if (cp->sandbox_id) {
        json_builder_set_member_name(b, "sandbox");
        json_builder_add_string_value(b, cp->sandbox_id);
    }
    json_builder_set_member_name(b, "template");
    json_builder_add_string_value(b, cp->template_name);
    if (cp->key) {
        json_builder_set_member_name(b, "key");
        json_builder_add_string_value(b, cp->key);
    }
    json_builder_set_member_name(b, "createdAt");
    json_builder_add_int_value(b, cp->created);
    json_builder_set_member_name(b, "cpus");
    json_builder_add_int_value(b, cp->cpu_count);
    json_builder_set_member_name(b, "memoryMB");
    json_builder_add_int_value(b, cp->memory_mb);
    json_builder_set_member_name(b, "sizeBytes");
    json_builder_add_int_value(b, (gint64)cp->size_bytes);
    network_to_json(b, cp->network);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    return durable_write(path, text, strlen(text), error);
}

static gint by_created(gconstpointer a, gconstpointer b)
{
    const ImageCheckpoint *x = *(ImageCheckpoint *const *)a, *y = *(ImageCheckpoint *const *)b;
    return x->created != y->created ? (x->created < y->created ? -1 : 1) : g_strcmp0(x->id, y->id);
}

GPtrArray *image_checkpoint_list(const char *state_dir, const char *sandbox_id)
{
    g_autofree char *root = g_build_filename(state_dir, "checkpoints", NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)image_checkpoint_free);
    GDir *d = g_dir_open(root, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        ImageCheckpoint *cp = valid_id(n) ? image_checkpoint_load(state_dir, n, NULL) : NULL;
        if (cp && (!sandbox_id || g_strcmp0(cp->sandbox_id, sandbox_id) == 0))
            g_ptr_array_add(out, cp);
        else
            image_checkpoint_free(cp);
    }
    if (d)
        g_dir_close(d);
    g_ptr_array_sort(out, by_created);
    return out;
}

gboolean image_checkpoint_delete(const char *state_dir, const char *id, GError **error)
{
    g_autoptr(ImageCheckpoint) cp = image_checkpoint_load(state_dir, id, error);
    g_autofree char *meta = NULL, *mem = NULL;

    if (!cp)
        return FALSE;
    meta = image_checkpoint_file(cp, META_FILE);
    mem = image_checkpoint_file(cp, "memory.save");
    /* The json goes first: from then on the checkpoint does not exist. */
    if (g_unlink(meta) < 0 && errno != ENOENT) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot delete %s: %s", meta, g_strerror(errno));
        return FALSE;
    }
    durable_sync(cp->dir, NULL);
    g_unlink(mem);
    image_layers_gc(state_dir);
    return TRUE;
}

int image_lock_dir(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "create.lock", NULL);

    if (g_mkdir_with_parents(dir, 0711) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot create %s: %s", dir, g_strerror(errno));
        return -1;
    }
    return lockfile_take(path, error);
}

ImageCheckpoint *image_template_snapshot(const char *state_dir, const char *name,
                                         GError **error)
{
    g_autofree char *link = g_build_filename(state_dir, "templates", name, "snapshot", NULL);
    return image_checkpoint_load_dir(link, error);
}

gboolean image_template_snapshot_publish(const char *state_dir, const char *name,
                                         const char *dir, GError **error)
{
    g_autofree char *link = g_build_filename(state_dir, "templates", name, "snapshot", NULL);
    g_autofree char *tmp = g_strdup_printf("%s.new", link);
    g_autofree char *target = g_path_get_basename(dir);

    g_unlink(tmp);
    if (symlink(target, tmp) < 0 || rename(tmp, link) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot publish the snapshot of template %s: %s",
                    name, g_strerror(errno));
        g_unlink(tmp);
        return FALSE;
    }
    return durable_sync_parent(link, error);
}
