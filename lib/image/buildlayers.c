/* buildlayers.c: the layer cache of template builds and installing a built
 * template (see buildlayers.h). */
#include "image/buildlayers.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "image/checkpoints.h"
#include "util/durable.h"
#include "util/error.h"
#include "util/lockfile.h"
#include "util/log.h"
#include "util/tree.h"

static char *layers_dir(const char *state_dir)
{
    return g_build_filename(state_dir, "cache", "layers", NULL);
}

char *image_layer_path(const char *state_dir, const char *key)
{
    g_autofree char *dir = layers_dir(state_dir);
    g_autofree char *leaf = g_strdup_printf("%s.qcow2", key);
    return g_build_filename(dir, leaf, NULL);
}

static char *layer_meta(const char *state_dir, const char *key)
{
    g_autofree char *dir = layers_dir(state_dir);
    g_autofree char *leaf = g_strdup_printf("%s.json", key);
    return g_build_filename(dir, leaf, NULL);
}

/* Layer files without their json: steps of builds that died (the caller
 * holds the build lock, so no live build is making one). */
static void remove_unfinished(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *key = NULL, *meta = NULL, *path = NULL;
        if (!g_str_has_suffix(n, ".qcow2"))
            continue;
        key = g_strndup(n, strlen(n) - strlen(".qcow2"));
        meta = g_strdup_printf("%s/%s.json", dir, key);
        path = g_build_filename(dir, n, NULL);
        if (!g_file_test(meta, G_FILE_TEST_EXISTS)) {
            log_info("removing %s: the build that made it did not finish its step", path);
            g_unlink(path);
        }
    }
}

/* What a build that died while installing its template left in
 * templates/: the collapsed disk (.build-*.qcow2) or the new template's
 * directory before its rename (.new-*); or an import's work directory
 * (.import-*).  Only builds and imports make them, under the build lock. */
static void remove_unfinished_installs(const char *state_dir)
{
    g_autofree char *root = g_build_filename(state_dir, "templates", NULL);
    g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(root, n, NULL);
        if (g_str_has_prefix(n, ".build-") && g_str_has_suffix(n, ".qcow2")) {
            log_info("removing %s: the build that made it did not finish", path);
            g_unlink(path);
        } else if (g_str_has_prefix(n, ".new-")) {
            log_info("removing %s: the build that made it did not finish", path);
            image_layer_dir_remove(path);
        } else if (g_str_has_prefix(n, ".import-")) {
            log_info("removing %s: the import that made it did not finish", path);
            tree_remove(path, NULL);
        }
    }
}

int image_layers_lock(const char *state_dir, GError **error)
{
    g_autofree char *dir = layers_dir(state_dir);
    g_autofree char *path = g_build_filename(dir, "build.lock", NULL);
    int fd;

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot create %s: %s", dir, g_strerror(errno));
        return -1;
    }
    fd = lockfile_take(path, error);
    if (fd >= 0) {
        remove_unfinished(dir);
        remove_unfinished_installs(state_dir);
    }
    return fd;
}

gboolean image_layer_usable(const char *state_dir, const char *key)
{
    g_autofree char *path = image_layer_path(state_dir, key);
    g_autofree char *meta = layer_meta(state_dir, key);
    g_autoptr(GPtrArray) chain = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *below = NULL;

    if (!g_file_test(meta, G_FILE_TEST_IS_REGULAR) || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
        return FALSE;
    /* The chain must reach a disk that names no backing: a parent template
     * deleted since leaves the layers on it useless. */
    chain = image_qcow2_chain(path);
    below = image_qcow2_backing(chain->pdata[chain->len - 1], &err);
    if (below || err) {
        log_info("layer %.16s: the disks it builds on are gone or damaged; removing it", key);
        image_layer_discard(state_dir, key);
        return FALSE;
    }
    return TRUE;
}

gboolean image_layer_commit(const char *state_dir, const char *key, const char *step,
                            GError **error)
{
    g_autofree char *meta = layer_meta(state_dir, key);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *when = g_date_time_format_iso8601(now);
    g_autofree char *text = NULL;
    gsize len;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "key");
    json_builder_add_string_value(b, key);
    json_builder_set_member_name(b, "step");
    json_builder_add_string_value(b, step);
    json_builder_set_member_name(b, "created");
    json_builder_add_string_value(b, when);
    json_builder_end_object(b);
    json_generator_set_root(gen, json_builder_get_root(b));
    text = json_generator_to_data(gen, &len);
    return durable_write(meta, text, len, error);
}

void image_layer_discard(const char *state_dir, const char *key)
{
    g_autofree char *path = image_layer_path(state_dir, key);
    g_autofree char *meta = layer_meta(state_dir, key);

    g_unlink(meta);
    g_unlink(path);
}

/* ---- installing a built template ---- */

static void add_strv(JsonBuilder *b, const char *member, const char *const *v)
{
    json_builder_set_member_name(b, member);
    json_builder_begin_array(b);
    for (; v && *v; v++)
        json_builder_add_string_value(b, *v);
    json_builder_end_array(b);
}

static void add_str(JsonBuilder *b, const char *member, const char *v)
{
    if (!v)
        return;
    json_builder_set_member_name(b, member);
    json_builder_add_string_value(b, v);
}

static char *recipe_json(const ImageTemplateRecipe *r, gsize *len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *when = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S+00:00");

    json_builder_begin_object(b);
    add_str(b, "name", r->name);
    add_str(b, "key", r->key);
    add_str(b, "created", when);
    json_builder_set_member_name(b, "size_bytes");
    json_builder_add_int_value(b, (gint64)r->size_bytes);
    add_str(b, "parent", r->parent);
    add_strv(b, "steps", r->steps);
    add_strv(b, "env", r->env);
    add_str(b, "workdir", r->workdir);
    add_str(b, "user", r->user);
    add_str(b, "layer", r->layer);
    add_str(b, "imported_from", r->imported_from);
    if (r->agent)
        add_strv(b, "agent", r->agent);
    json_builder_end_object(b);
    json_generator_set_root(gen, json_builder_get_root(b));
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, len);
}

static gboolean fail_errno(GError **error, const char *what, const char *path)
{
    g_set_error(error, OC_ERROR, OC_EIO, "cannot %s %s: %s", what, path, g_strerror(errno));
    return FALSE;
}

/* Points dir/disk.qcow2 at leaf, replacing what it pointed at in one step. */
static gboolean point_disk_at(const char *dir, const char *leaf, GError **error)
{
    g_autofree char *link = g_build_filename(dir, "disk.qcow2", NULL);
    g_autofree char *tmp = g_build_filename(dir, ".disk.qcow2.new", NULL);

    g_unlink(tmp);
    if (symlink(leaf, tmp) < 0)
        return fail_errno(error, "create", tmp);
    if (rename(tmp, link) < 0) {
        g_unlink(tmp);
        return fail_errno(error, "replace", link);
    }
    return durable_sync(dir, error);
}

gboolean image_template_install(const char *state_dir, const ImageTemplateRecipe *r,
                                const char *disk, GError **error)
{
    g_autofree char *root = g_build_filename(state_dir, "templates", NULL);
    g_autofree char *dir = g_build_filename(root, r->name, NULL);
    g_autofree char *leaf = g_strdup_printf("disk-%.16s.qcow2", r->key);
    g_autofree char *aside = NULL, *target_dir = NULL, *target = NULL, *meta = NULL;
    g_autofree char *json = NULL;
    gboolean fresh = !g_file_test(dir, G_FILE_TEST_IS_DIR);
    gsize len;

    /* A new template is assembled under a name no listing shows, then
     * renamed into place whole. */
    if (fresh) {
        g_autofree char *hidden = g_strdup_printf(".new-%s-%08x", r->name, g_random_int());
        aside = g_build_filename(root, hidden, NULL);
        if (g_mkdir(aside, 0755) < 0)
            return fail_errno(error, "create", aside);
    }
    target_dir = g_strdup(fresh ? aside : dir);
    target = g_build_filename(target_dir, leaf, NULL);
    meta = g_build_filename(target_dir, "template.json", NULL);
    json = recipe_json(r, &len);
    if (g_file_test(target, G_FILE_TEST_EXISTS)) {
        g_set_error(error, OC_ERROR, OC_EEXISTS, "template %s already has disk version %.16s",
                    r->name, r->key);
        goto fail;
    }
    if (!durable_sync(disk, error))
        goto fail;
    if (rename(disk, target) < 0) {
        fail_errno(error, "move the built disk to", target);
        goto fail;
    }
    /* Disk first, then the link to it, then the record naming it: a crash
     * in between leaves the previous version whole, or an unused disk. */
    if (!durable_sync(target_dir, error) || !point_disk_at(target_dir, leaf, error) ||
        !durable_write(meta, json, len, error))
        goto fail;
    if (fresh) {
        if (rename(aside, dir) < 0) {
            fail_errno(error, "move the new template into", dir);
            goto fail;
        }
        if (!durable_sync(root, error))
            return FALSE;
    }
    return TRUE;
fail:
    if (fresh)
        image_layer_dir_remove(aside);
    return FALSE;
}
