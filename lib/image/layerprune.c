/* layerprune.c: emptying the layer cache (see layerprune.h for the rule). */
#include "image/layerprune.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/buildlayers.h"
#include "image/checkpoints.h"
#include "image/store.h"
#include "util/error.h"
#include "util/log.h"

/* Marks the chains of the qcow2 files under dir, down to depth levels of
 * subdirectories (templates/NAME/snapshot-KEY/ is two). */
static void mark_disks_under(GHashTable *set, const char *dir, int depth)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        struct stat st;
        if (lstat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth > 0)
            mark_disks_under(set, p, depth - 1);
        else if (S_ISREG(st.st_mode) && g_str_has_suffix(n, ".qcow2"))
            image_disk_set_mark_chain(set, p);
    }
}

/* The layer template name was collapsed from: its "layer", or for one
 * built before that was recorded, the layer of its key if there is one. */
static char *template_layer(const char *state_dir, const char *name)
{
    g_autofree char *path = g_build_filename(state_dir, "templates", name, "template.json",
                                             NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o;
    const char *layer;

    if (!json_parser_load_from_file(parser, path, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        return NULL;
    o = json_node_get_object(json_parser_get_root(parser));
    layer = json_object_get_string_member_with_default(o, "layer", NULL);
    if (!layer && json_object_has_member(o, "parent"))
        layer = json_object_get_string_member_with_default(o, "key", NULL);
    return layer && *layer ? image_layer_path(state_dir, layer) : NULL;
}

static guint64 file_bytes(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (guint64)st.st_blocks * 512 : 0;
}

gboolean image_layers_prune_cache(const char *state_dir, guint keep_days, ImageLayerPrune *out,
                                  GError **error)
{
    static const char *const users[] = { "sandboxes", "checkpoints", "templates" };
    g_autofree char *dir = g_build_filename(state_dir, "cache", "layers", NULL);
    g_autoptr(GHashTable) keep = image_disk_set_new();
    g_autoptr(GPtrArray) names = image_template_list(state_dir);
    g_autoptr(GPtrArray) layers = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) d = NULL;
    gint64 since = g_get_real_time() / G_USEC_PER_SEC - (gint64)keep_days * 86400;
    ImageLayerPrune r = { 0 };
    const char *n;
    int lock;

    /* No build makes or starts from a layer meanwhile. */
    lock = image_layers_lock(state_dir, error);
    if (lock < 0)
        return FALSE;
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *top = template_layer(state_dir, names->pdata[i]);
        if (top)
            image_disk_set_mark_chain(keep, top);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(users); i++) {
        g_autofree char *root = g_build_filename(state_dir, users[i], NULL);
        mark_disks_under(keep, root, 2);
    }
    d = g_dir_open(dir, 0, NULL);
    while (d && (n = g_dir_read_name(d))) {
        if (g_str_has_suffix(n, ".qcow2"))
            g_ptr_array_add(layers, g_strndup(n, strlen(n) - strlen(".qcow2")));
    }
    /* Recent layers first: what they build on is kept with them. */
    for (guint i = 0; keep_days && i < layers->len; i++) {
        g_autofree char *meta = g_strdup_printf("%s/%s.json", dir, (char *)layers->pdata[i]);
        g_autofree char *path = image_layer_path(state_dir, layers->pdata[i]);
        GStatBuf st;
        if (g_stat(meta, &st) == 0 && st.st_mtime >= since)
            image_disk_set_mark_chain(keep, path);
    }
    for (guint i = 0; i < layers->len; i++) {
        g_autofree char *meta = g_strdup_printf("%s/%s.json", dir, (char *)layers->pdata[i]);
        g_autofree char *path = image_layer_path(state_dir, layers->pdata[i]);
        guint64 bytes = file_bytes(path) + file_bytes(meta);
        if (image_disk_set_has(keep, path)) {
            r.kept++;
            continue;
        }
        /* The json first: a layer without it is an unfinished one, which
         * the next build removes if this process dies here. */
        if ((g_unlink(meta) < 0 && errno != ENOENT) || g_unlink(path) < 0) {
            log_warning("cannot remove layer %s: %s", path, g_strerror(errno));
            continue;
        }
        r.removed++;
        r.bytes_freed += bytes;
    }
    close(lock);
    log_info("layer cache: %u layer(s) removed (%" G_GUINT64_FORMAT " bytes), %u kept",
             r.removed, r.bytes_freed, r.kept);
    if (out)
        *out = r;
    return TRUE;
}
