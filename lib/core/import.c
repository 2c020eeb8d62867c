/* import.c: a template from a root filesystem tarball (see import.h).
 *
 * It runs under the layer cache's build lock, like a build: the two make
 * templates, and whoever takes the lock next removes what a dead one left
 * (an import's work directory, templates/.import-NAME-*). */
#include "core/import.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "core/snapshots.h"
#include "core/templates.h"
#include "image/buildlayers.h"
#include "image/rootfs.h"
#include "util/diskspace.h"
#include "util/error.h"
#include "util/log.h"
#include "util/tree.h"

/* Bumped when what an import adds to the root filesystem changes: the key
 * is the disk's version, which ready snapshots and build caches go by. */
#define IMPORT_RECIPE "oc-import-1\n"

static void say(const CoreImportOptions *opts, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void say(const CoreImportOptions *opts, const char *fmt, ...)
{
    g_autofree char *line = NULL;
    va_list ap;

    if (!opts->log)
        return;
    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    opts->log(line, opts->log_data);
}

/* The disk's version: the tarball's content (the same tarball imported
 * again is the same version), and how it was made. */
static char *content_key(const char *tarball, GError **error)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guint8 *buf = g_malloc(1 << 20);
    int fd = open(tarball, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read %s: %s", tarball, g_strerror(errno));
        return NULL;
    }
    g_checksum_update(sum, (const guchar *)IMPORT_RECIPE, -1);
    while ((n = read(fd, buf, 1 << 20)) > 0)
        g_checksum_update(sum, buf, (gssize)n);
    close(fd);
    if (n < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read %s: %s", tarball, g_strerror(errno));
        return NULL;
    }
    return g_strdup(g_checksum_get_string(sum));
}

static gboolean name_free(oc_context *ctx, const char *name, GError **error)
{
    g_autofree char *dir = g_build_filename(ctx->state_dir, "templates", name, NULL);

    if (!g_file_test(dir, G_FILE_TEST_EXISTS))
        return TRUE;
    g_set_error(error, OC_ERROR, OC_EEXISTS, "template %s already exists; delete it first "
                "(oc template delete %s) or import under another name", name, name);
    return FALSE;
}

/* Unpacks, checks and installs; the caller holds the build lock and
 * removes work. */
static gboolean make_template(oc_context *ctx, const char *name, const char *tarball,
                              const char *work, const CoreImportOptions *opts, GError **error)
{
    g_autofree char *root = g_build_filename(work, "root", NULL);
    g_autofree char *disk = g_build_filename(work, "disk.qcow2", NULL);
    g_autofree char *key = NULL;
    gint64 t0 = g_get_monotonic_time();
    guint64 size = 0;

    if (g_mkdir(root, 0755) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot create %s: %s", root, g_strerror(errno));
        return FALSE;
    }
    say(opts, "unpacking %s", tarball);
    if (!image_rootfs_extract(tarball, root, error)) {
        diskspace_explain(error, work, 0);
        return FALSE;
    }
    if (!image_rootfs_check(root, error)) {
        g_prefix_error(error, "%s: ", tarball);
        return FALSE;
    }
    if (!(key = content_key(tarball, error)))
        return FALSE;
    say(opts, "unpacked in %.1f s; making its disk", (g_get_monotonic_time() - t0) / 1e6);
    if (!image_rootfs_make_disk(root, work, disk, &size, error)) {
        diskspace_explain(error, work, 0);
        return FALSE;
    }
    /* The tree is not needed any more: free its space before the install. */
    tree_remove(root, NULL);
    ImageTemplateRecipe r = { .name = name, .key = key, .size_bytes = size,
                              .imported_from = tarball };
    if (!image_template_install(ctx->state_dir, &r, disk, error))
        return FALSE;
    say(opts, "template %s made in %.1f s", name, (g_get_monotonic_time() - t0) / 1e6);
    return TRUE;
}

/* Its ready snapshot, also the proof that the guest boots on it. */
static gboolean prepare(oc_context *ctx, const char *name, const CoreImportOptions *opts,
                        GError **error)
{
    g_autoptr(GError) del_err = NULL;
    gint64 t0 = g_get_monotonic_time();
    gboolean built = FALSE;

    say(opts, "booting it for its ready snapshot");
    if (core_template_prepare(ctx, name, &built, error)) {
        say(opts, "ready snapshot made in %.1f s", (g_get_monotonic_time() - t0) / 1e6);
        return TRUE;
    }
    if (!core_template_delete(ctx, name, &del_err))
        log_warning("template %s: cannot remove it after its failed boot: %s", name,
                    del_err->message);
    g_prefix_error(error, "a sandbox could not start from it, so it was not kept: ");
    return FALSE;
}

gboolean core_template_import(oc_context *ctx, const char *name, const char *tarball,
                              const CoreImportOptions *opts, GError **error)
{
    g_autofree char *path = NULL, *work = NULL, *leaf = NULL;
    gboolean ok;
    int lock;

    if (!build_template_name_valid(name, error))
        goto fail;
    if (!tarball || !*tarball) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "no root filesystem tarball given");
        goto fail;
    }
    path = g_canonicalize_filename(tarball, NULL);
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, OC_ERROR, OC_ENOTFOUND, "%s: no such file", path);
        goto fail;
    }
    if (!name_free(ctx, name, error))
        goto fail;
    lock = image_layers_lock(ctx->state_dir, error);
    if (lock < 0)
        goto fail;
    /* Again under the lock: another import or build may have made it. */
    ok = name_free(ctx, name, error);
    if (ok) {
        leaf = g_strdup_printf(".import-%s-%08x", name, g_random_int());
        work = g_build_filename(ctx->state_dir, "templates", leaf, NULL);
        if (g_mkdir(work, 0700) < 0) {
            g_set_error(error, OC_ERROR, OC_EIO, "cannot create %s: %s", work,
                        g_strerror(errno));
            g_clear_pointer(&work, g_free);
            ok = FALSE;
        }
    }
    if (ok)
        ok = make_template(ctx, name, path, work, opts, error);
    if (work) {
        g_autoptr(GError) err = NULL;
        if (!tree_remove(work, &err))
            log_warning("template import: %s", err->message);
    }
    close(lock);
    if (!ok || (opts->prepare && !prepare(ctx, name, opts, error)))
        goto fail;
    log_info("template %s: imported from %s", name, path);
    return TRUE;
fail:
    g_prefix_error(error, "cannot import template %s: ", name ? name : "(null)");
    return FALSE;
}
