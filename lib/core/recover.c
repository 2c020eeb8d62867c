/* recover.c: see recover.h. */
#include "core/recover.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "core/network.h"
#include "core/power.h"
#include "image/checkpoints.h"
#include "image/store.h"
#include "util/lockfile.h"
#include "util/log.h"
#include "virt/domain.h"
#include "virt/power.h"

#define DISKS_MARK "disks.pending"

/* A creator that died before defining its domain leaves a directory with an
 * unheld create.lock and no domain, which nothing else would ever remove.
 * The lock file must be a little old: a creator creates it and locks it a
 * moment later. */
#define ORPHAN_MIN_AGE_S 10

static char *sandbox_file(oc_context *ctx, const char *id, const char *name)
{
    g_autofree char *dir = image_sandbox_dir(ctx->state_dir, id);
    return g_build_filename(dir, name, NULL);
}

void core_recover_mark_disks(oc_sandbox *sb, const char *layer_dir)
{
    g_autofree char *path = sandbox_file(sb->ctx, sb->id, DISKS_MARK);
    g_autoptr(GError) err = NULL;

    /* No fsync: it guards against the death of a process, not of the host. */
    if (!g_file_set_contents(path, layer_dir ? layer_dir : "", -1, &err))
        log_warning("%s: %s", sb->id, err->message);
}

void core_recover_unmark_disks(oc_sandbox *sb)
{
    g_autofree char *path = sandbox_file(sb->ctx, sb->id, DISKS_MARK);
    unlink(path);
}

static gboolean in_chain(GPtrArray *chain, const char *path)
{
    for (guint i = 0; i < chain->len; i++)
        if (g_str_equal(chain->pdata[i], path))
            return TRUE;
    return FALSE;
}

/* A checkpoint directory whose maker died: finished if it has its json,
 * else not a checkpoint; its disk stays only if the sandbox builds on it
 * (the snapshot was taken), as a deleted checkpoint's does. */
static void recover_layer_dir(const char *id, const char *dir, GPtrArray *chain)
{
    g_autofree char *meta = g_build_filename(dir, "checkpoint.json", NULL);
    g_autofree char *lock = g_build_filename(dir, "create.lock", NULL);
    g_autofree char *memory = g_build_filename(dir, "memory.save", NULL);
    g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);

    if (!g_file_test(dir, G_FILE_TEST_IS_DIR) || lockfile_is_held(lock))
        return;
    if (g_file_test(meta, G_FILE_TEST_EXISTS)) {
        unlink(lock);
        return;
    }
    if (in_chain(chain, disk)) {
        log_info("%s: checkpoint %s was not finished: removing its memory image; the sandbox "
                 "goes on building on its disk", id, dir);
        unlink(memory);
        unlink(lock);
    } else {
        log_info("%s: checkpoint %s was not finished: removing it", id, dir);
        image_layer_dir_remove(dir);
    }
}

void core_recover_disks(oc_context *ctx, virDomainPtr dom, const char *id)
{
    g_autofree char *mark = sandbox_file(ctx, id, DISKS_MARK);
    g_autofree char *layer_dir = NULL, *active = NULL, *dir = NULL;
    g_autoptr(GPtrArray) chain = NULL;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(mark, &layer_dir, NULL, NULL))
        return;
    /* A snapshot the dead process began runs on in libvirt: let it end
     * first, then its outcome is the domain's disk. */
    if (!virt_wait_no_job(dom, 0, NULL))
        return;
    if (virt_resume_paused(dom))
        log_info("%s: resumed: a checkpoint that died left it paused", id);
    active = virt_domain_disk_path(dom, &err);
    if (!active) {
        log_warning("%s: cannot finish an interrupted change of disks: %s", id, err->message);
        return;
    }
    dir = image_sandbox_dir(ctx->state_dir, id);
    image_layers_prune(dir, active);
    chain = image_qcow2_chain(active);
    if (*layer_dir)
        recover_layer_dir(id, layer_dir, chain);
    unlink(mark);
    log_info("%s: finished an interrupted change of its disks", id);
}

/* Finishes the transitions of sandbox id that a dead process began. */
static void recover_transitions_of(oc_context *ctx, const char *id)
{
    g_autofree char *mark = sandbox_file(ctx, id, DISKS_MARK);
    g_autofree char *power_lock = sandbox_file(ctx, id, "power.lock");
    gboolean disks = access(mark, F_OK) == 0, hibernating = core_power_hibernating(ctx, id);
    virDomainPtr dom;
    int lock_fd;

    if (!disks && !hibernating)
        return;
    /* Holding the power lock, nobody else begins a transition meanwhile. */
    lock_fd = lockfile_try(power_lock);
    dom = lock_fd >= 0 ? virDomainLookupByName(ctx->conn, id) : NULL;
    if (!dom) {
        if (lock_fd >= 0)
            close(lock_fd);
        return; /* busy, or a directory that goes as an orphan's */
    }
    if (disks)
        core_recover_disks(ctx, dom, id);
    /* The save libvirt went on with is over: the sandbox is running or
     * hibernated, and calls need not distrust their connections. */
    if (hibernating && virt_wait_no_job(dom, 0, NULL)) {
        log_info("%s: a hibernate that died is over", id);
        core_power_clear_mark(ctx, id);
    }
    virDomainFree(dom);
    close(lock_fd);
}

/* Removes the directory of a sandbox that has no domain, if its creator is
 * gone and it is old enough; TRUE if it did. */
static gboolean remove_if_orphan(oc_context *ctx, const char *id, gint64 now)
{
    g_autofree char *dir = image_sandbox_dir(ctx->state_dir, id);
    g_autofree char *lock = g_build_filename(dir, "create.lock", NULL);
    GStatBuf st;
    virDomainPtr dom;

    /* The lock file's age, or for a directory without one (its domain went
     * without it: removed by hand, or by a process that died between the
     * two), the directory's. */
    if ((g_stat(lock, &st) < 0 && g_stat(dir, &st) < 0) || st.st_mtime > now - ORPHAN_MIN_AGE_S ||
        !core_sandbox_creator_gone(ctx, id))
        return FALSE;
    dom = virDomainLookupByName(ctx->conn, id);
    if (dom) {
        virDomainFree(dom); /* a domain: lookup_ready() deals with it */
        return FALSE;
    }
    log_info("%s: removing the directory of a sandbox that has no domain", id);
    core_sandbox_remove(ctx, NULL, id);
    return TRUE;
}

void core_recover_sweep(oc_context *ctx)
{
    g_autofree char *root = g_build_filename(ctx->state_dir, "sandboxes", NULL);
    GDir *d = g_dir_open(root, 0, NULL);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    gboolean removed = FALSE;
    const char *id;

    while (d && (id = g_dir_read_name(d))) {
        if (!g_str_has_prefix(id, "sb-"))
            continue;
        if (!remove_if_orphan(ctx, id, now))
            recover_transitions_of(ctx, id);
        else
            removed = TRUE;
    }
    if (d)
        g_dir_close(d);
    if (removed)
        image_layers_gc(ctx->state_dir); /* frozen disks only they built on */
    core_network_prune(ctx);
}
