/* layers.c: which frozen disks are still built on, and removing the rest.
 *
 * Disks form chains through the backing file named in each qcow2 header:
 * a sandbox's overlay on a checkpoint's frozen disk, on an older one, ...,
 * on a template's disk.  Every overlay we create names its backing by a path
 * that lives as long as the layer does (a checkpoint's or template
 * snapshot's directory, never a sandbox's), so a chain stays valid whatever
 * is killed or deleted.  A deleted checkpoint's directory (no
 * checkpoint.json) and a replaced template snapshot are removed once no
 * chain from a live disk reaches their disk.  Directories whose create.lock
 * is held are being made and are left alone. */
#include "image/checkpoints.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/lockfile.h"
#include "util/log.h"

#define QCOW2_MAGIC 0x514649fbu
/* Longer chains than this are taken as a loop. */
#define MAX_CHAIN 256
#define MAX_BACKING_NAME 4096

static guint64 be64(const guint8 *p)
{
    guint64 v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static guint32 be32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

char *image_qcow2_backing(const char *path, GError **error)
{
    guint8 h[20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *name = NULL;

    if (fd < 0) {
        g_set_error(error, OC_ERROR, errno == ENOENT ? OC_ENOTFOUND : OC_EIO, "cannot open %s: %s",
                    path, g_strerror(errno));
        return NULL;
    }
    if (pread(fd, h, sizeof h, 0) != sizeof h || be32(h) != QCOW2_MAGIC) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is not a qcow2 image", path);
    } else {
        guint64 off = be64(h + 8);
        guint32 len = be32(h + 16);
        if (off && len && len <= MAX_BACKING_NAME) {
            name = g_malloc0((gsize)len + 1);
            if (pread(fd, name, len, (off_t)off) != (ssize_t)len || memchr(name, 0, len)) {
                g_set_error(error, OC_ERROR, OC_EINVAL, "%s has a damaged backing file name", path);
                g_clear_pointer(&name, g_free);
            }
        }
    }
    close(fd);
    return name;
}

static gboolean locked(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "create.lock", NULL);
    return lockfile_is_held(path);
}

static guint64 inode_key(const struct stat *st)
{
    return (guint64)st->st_ino ^ ((guint64)st->st_dev << 40);
}

/* The names in a directory (none if it cannot be read). */
static GPtrArray *dir_names(const char *dir)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(n));
    if (d)
        g_dir_close(d);
    return names;
}

GPtrArray *image_qcow2_chain(const char *top)
{
    GPtrArray *chain = g_ptr_array_new_with_free_func(g_free);
    char *cur = g_strdup(top);

    while (cur && chain->len < MAX_CHAIN && g_file_test(cur, G_FILE_TEST_EXISTS)) {
        g_ptr_array_add(chain, cur);
        cur = image_qcow2_backing(cur, NULL);
    }
    g_free(cur);
    return chain;
}

GHashTable *image_disk_set_new(void)
{
    return g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
}

gboolean image_disk_set_has(GHashTable *set, const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && g_hash_table_contains(set, &(guint64){ inode_key(&st) });
}

void image_disk_set_mark_chain(GHashTable *marked, const char *path)
{
    g_autoptr(GPtrArray) chain = image_qcow2_chain(path);

    for (guint i = 0; i < chain->len; i++) {
        struct stat st;
        if (stat(chain->pdata[i], &st) == 0)
            g_hash_table_add(marked, g_memdup2(&(guint64){ inode_key(&st) }, sizeof(guint64)));
    }
}

void image_layers_prune(const char *dir, const char *top)
{
    g_autoptr(GHashTable) marked = image_disk_set_new();
    g_autoptr(GPtrArray) files = dir_names(dir);

    image_disk_set_mark_chain(marked, top);
    for (guint i = 0; i < files->len; i++) {
        g_autofree char *p = g_build_filename(dir, files->pdata[i], NULL);
        struct stat st;
        if (g_str_has_suffix(p, ".qcow2") && stat(p, &st) == 0 &&
            !g_hash_table_contains(marked, &(guint64){ inode_key(&st) })) {
            log_info("removing %s: the sandbox's disk does not build on it", p);
            g_unlink(p);
        }
    }
}

typedef struct {
    GHashTable *marked;  /* inode keys of disks some live chain reaches */
    GPtrArray *roots;    /* disks of live checkpoints and snapshots */
    GPtrArray *doomed;   /* directories to remove if their disk is unmarked */
} Sweep;

/* A directory holding a frozen disk: a root if live, else a candidate. */
static void visit_layer_dir(Sweep *s, const char *dir, gboolean live)
{
    if (live || locked(dir))
        g_ptr_array_add(s->roots, g_build_filename(dir, "disk.qcow2", NULL));
    else
        g_ptr_array_add(s->doomed, g_strdup(dir));
}

static void visit_sandboxes(Sweep *s, const char *state_dir)
{
    g_autofree char *root = g_build_filename(state_dir, "sandboxes", NULL);
    g_autoptr(GPtrArray) ids = dir_names(root);

    for (guint i = 0; i < ids->len; i++) {
        g_autofree char *dir = g_build_filename(root, ids->pdata[i], NULL);
        g_autoptr(GPtrArray) files = dir_names(dir);
        for (guint j = 0; j < files->len; j++) {
            g_autofree char *p = g_build_filename(dir, files->pdata[j], NULL);
            if (g_str_has_suffix(files->pdata[j], ".qcow2"))
                image_disk_set_mark_chain(s->marked, p);
        }
    }
}

static void visit_checkpoints(Sweep *s, const char *state_dir)
{
    g_autofree char *root = g_build_filename(state_dir, "checkpoints", NULL);
    g_autoptr(GPtrArray) ids = dir_names(root);

    for (guint i = 0; i < ids->len; i++) {
        g_autofree char *dir = g_build_filename(root, ids->pdata[i], NULL);
        g_autofree char *meta = g_build_filename(dir, "checkpoint.json", NULL);
        if (g_str_has_prefix(ids->pdata[i], "cp-"))
            visit_layer_dir(s, dir, g_file_test(meta, G_FILE_TEST_EXISTS));
    }
}

static void visit_template_snapshots(Sweep *s, const char *state_dir)
{
    g_autofree char *root = g_build_filename(state_dir, "templates", NULL);
    g_autoptr(GPtrArray) names = dir_names(root);

    for (guint i = 0; i < names->len; i++) {
        g_autofree char *tdir = g_build_filename(root, names->pdata[i], NULL);
        g_autofree char *link = g_build_filename(tdir, "snapshot", NULL);
        g_autofree char *current = g_file_read_link(link, NULL);
        g_autoptr(GPtrArray) files = dir_names(tdir);
        for (guint j = 0; j < files->len; j++) {
            const char *f = files->pdata[j];
            g_autofree char *dir = g_build_filename(tdir, f, NULL);
            if (g_str_has_prefix(f, "snapshot-") && g_file_test(dir, G_FILE_TEST_IS_DIR))
                visit_layer_dir(s, dir, g_strcmp0(current, f) == 0);
        }
    }
}

void image_layer_dir_remove(const char *dir)
{
    g_autoptr(GPtrArray) files = dir_names(dir);

    for (guint i = 0; i < files->len; i++) {
        g_autofree char *p = g_build_filename(dir, files->pdata[i], NULL);
        g_unlink(p);
    }
    if (g_rmdir(dir) < 0 && errno != ENOENT)
        log_warning("cannot remove %s: %s", dir, g_strerror(errno));
}

void image_layers_gc(const char *state_dir)
{
    Sweep s = {
        .marked = image_disk_set_new(),
        .roots = g_ptr_array_new_with_free_func(g_free),
        .doomed = g_ptr_array_new_with_free_func(g_free),
    };

    visit_checkpoints(&s, state_dir);
    visit_template_snapshots(&s, state_dir);
    /* Most kills find nothing deleted: then no chain need be read. */
    if (s.doomed->len > 0) {
        visit_sandboxes(&s, state_dir);
        for (guint i = 0; i < s.roots->len; i++)
            image_disk_set_mark_chain(s.marked, s.roots->pdata[i]);
    }
    for (guint i = 0; i < s.doomed->len; i++) {
        const char *dir = s.doomed->pdata[i];
        g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
        struct stat st;
        if (stat(disk, &st) == 0 &&
            g_hash_table_contains(s.marked, &(guint64){ inode_key(&st) }))
            continue; /* something still builds on it */
        log_debug("removing %s: nothing builds on its disk any more", dir);
        image_layer_dir_remove(dir);
    }
    g_hash_table_unref(s.marked);
    g_ptr_array_unref(s.roots);
    g_ptr_array_unref(s.doomed);
}
