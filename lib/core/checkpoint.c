/* checkpoint.c: checkpoints, restore in place, and forks.
 *
 * A checkpoint is an external snapshot (virt/snapshot.h): the memory image
 * goes to the checkpoint's directory, the disk the sandbox ran on until then
 * is frozen and linked there, and the sandbox goes on with a new overlay
 * whose header names the frozen disk by the checkpoint's path.  A fork is a
 * new domain started from the memory image (virt_restore_as) on an overlay
 * of its own on the frozen disk; a restore in place is the same, under the
 * sandbox's own name and UUID.  The agent handshake that follows reseeds
 * the guest's RNG and gives it its own hostname. */
#include "core/checkpoint.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/activity.h"
#include "core/network.h"
#include "core/power.h"
#include "core/recover.h"
#include "image/store.h"
#include "util/crashpoint.h"
#include "util/diskspace.h"
#include "util/durable.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"
#include "virt/overlay.h"
#include "virt/power.h"
#include "virt/saveimage.h"
#include "virt/snapshot.h"

#define MAX_NAME_LEN 128

static char *new_overlay_path(oc_sandbox *sb)
{
    g_autofree char *dir = image_sandbox_dir(sb->ctx->state_dir, sb->id);
    g_autofree char *name = g_strdup_printf("disk-%08x.qcow2", g_random_int());
    return g_build_filename(dir, name, NULL);
}

static guint64 file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (guint64)st.st_blocks * 512 : 0;
}

gboolean core_checkpoint_take(oc_sandbox *sb, ImageCheckpoint *cp, GError **error)
{
    g_autofree char *active = virt_domain_disk_path(sb->dom, error);
    g_autofree char *frozen = image_checkpoint_file(cp, "disk.qcow2");
    g_autofree char *memory = image_checkpoint_file(cp, "memory.save");
    g_autofree char *overlay = new_overlay_path(sb);
    gboolean ok;

    if (!active)
        return FALSE;
    /* The disk keeps its inode; the checkpoint gets its own name for it. */
    if (link(active, frozen) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot link %s to %s: %s", active, frozen,
                    g_strerror(errno));
        return FALSE;
    }
    crash_point("checkpoint", "linked");
    ok = virt_overlay_create(overlay, frozen, error);
    if (ok) {
        crash_point("checkpoint", "overlay");
        crash_timer_start("checkpoint", "snapshotting");
        ok = virt_snapshot_external(sb->dom, memory, overlay, error);
        crash_timer_end("checkpoint", "snapshotting");
    }
    if (!ok) {
        /* before the partial memory image goes and gives its space back */
        diskspace_explain(error, cp->dir, (guint64)cp->memory_mb << 20);
        g_unlink(overlay);
        g_unlink(frozen);
        g_unlink(memory);
        if (virt_resume_paused(sb->dom))
            log_info("%s: resumed after a failed snapshot", sb->id);
        return FALSE;
    }
    /* From here the sandbox runs on overlay, which builds on frozen. */
    crash_point("checkpoint", "snapshot");
    if (!durable_sync(memory, error) || !durable_sync(frozen, error) ||
        !durable_sync(cp->dir, error) || !durable_sync_parent(overlay, error))
        return FALSE;
    crash_point("checkpoint", "synced");
    cp->size_bytes = file_bytes(memory) + file_bytes(frozen);
    return TRUE;
}

static gboolean valid_label(const char *name, GError **error)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0 || len > MAX_NAME_LEN || !g_utf8_validate(name, -1, NULL)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "checkpoint name must be 1 to %d characters of "
                    "UTF-8", MAX_NAME_LEN);
        return FALSE;
    }
    for (const char *p = name; *p; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f) {
            g_set_error(error, OC_ERROR, OC_EINVAL, "checkpoint name must not hold control "
                        "characters");
            return FALSE;
        }
    }
    return TRUE;
}

ImageCheckpoint *core_checkpoint_create(oc_sandbox *sb, const char *name, GError **error)
{
    g_autoptr(ImageCheckpoint) cp = NULL;
    int lock_fd, cp_lock = -1, state;
    gboolean ok = FALSE;
    gint64 t0 = g_get_monotonic_time();

    if (!valid_label(name, error) || !core_sandbox_check_alive(sb, error))
        return NULL;
    state = core_sandbox_state(sb, error);
    if (state < 0 || (state == OC_STATE_HIBERNATED && !core_sandbox_wake(sb, -1, NULL, error)))
        return NULL;
    lock_fd = core_power_begin(sb, error);
    if (lock_fd < 0)
        return NULL;
    state = core_sandbox_state(sb, error);
    if (state != OC_STATE_RUNNING) {
        if (state > 0)
            g_set_error(error, OC_ERROR, OC_ESTATE, "sandbox %s is %s: only a running sandbox "
                        "can be checkpointed; wake it first", sb->id, oc_sandbox_state_name(state));
        goto out;
    }
    cp = g_new0(ImageCheckpoint, 1);
    cp->id = image_checkpoint_new_id();
    cp->name = g_strdup(name);
    cp->sandbox_id = g_strdup(sb->id);
    g_mutex_lock(&sb->lock);
    cp->template_name = g_strdup(sb->record->template_name);
    cp->cpu_count = sb->record->cpu_count;
    cp->memory_mb = sb->record->memory_mb;
    cp->network = sb->record->network ? net_policy_copy(sb->record->network) : NULL;
    g_mutex_unlock(&sb->lock);
    cp->created = g_get_real_time() / G_USEC_PER_SEC;
    cp->dir = image_checkpoint_dir(sb->ctx->state_dir, cp->id);
    core_recover_disks(sb->ctx, sb->dom, sb->id); /* of one that died */
    core_recover_mark_disks(sb, cp->dir);
    cp_lock = image_lock_dir(cp->dir, error);
    if (cp_lock < 0)
        goto out;
    crash_point("checkpoint", "locked");
    ok = core_checkpoint_take(sb, cp, error) && image_checkpoint_commit(cp, error);
    if (ok) {
        crash_point("checkpoint", "committed");
        core_recover_unmark_disks(sb);
        log_info("%s: checkpoint %s (%s) taken in %.2f s, %.1f MiB", sb->id, cp->id, cp->name,
                 (g_get_monotonic_time() - t0) / 1e6, cp->size_bytes / 1048576.0);
    }
out:
    if (cp_lock >= 0) {
        g_autofree char *lock_path = g_build_filename(cp->dir, "create.lock", NULL);
        g_unlink(lock_path);
        close(cp_lock);
    }
    if (!ok && cp) {
        /* A failure after the snapshot: the sandbox builds on the disk,
         * which stays, but the memory image goes. */
        core_recover_disks(sb->ctx, sb->dom, sb->id);
        image_layers_gc(sb->ctx->state_dir);
    }
    core_activity_touch(sb->ctx->state_dir, sb->id);
    close(lock_fd);
    return ok ? g_steal_pointer(&cp) : NULL;
}

/* Removes the sandbox's disk files other than keep: after a restore, no
 * chain and no definition names them. */
static void remove_other_disks(oc_sandbox *sb, const char *keep)
{
    g_autofree char *dir = image_sandbox_dir(sb->ctx->state_dir, sb->id);
    g_autofree char *keep_name = g_path_get_basename(keep);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *f;

    while (d && (f = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, f, NULL);
        if (g_str_has_suffix(f, ".qcow2") && !g_str_equal(f, keep_name))
            g_unlink(p);
    }
    if (d)
        g_dir_close(d);
}

/* Stops the sandbox's VM and starts it again from cp, on a new overlay. */
static gboolean restart_from(oc_sandbox *sb, const ImageCheckpoint *cp, GError **error)
{
    g_autofree char *frozen = image_checkpoint_file(cp, "disk.qcow2");
    g_autofree char *memory = image_checkpoint_file(cp, "memory.save");
    g_autofree char *overlay = new_overlay_path(sb);
    g_autofree char *dir = image_sandbox_dir(sb->ctx->state_dir, sb->id);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autofree char *fifo = g_build_filename(dir, "restore.fifo", NULL);
    g_autofree char *kernel = NULL, *initrd = NULL, *xml = NULL, *mxml = NULL;
    g_autoptr(VirtRecord) rec = virt_get_record(sb->dom, error);
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainPtr dom;
    gboolean paused = FALSE;

    if (!rec || !image_boot_paths(sb->ctx->state_dir, &kernel, &initrd, error))
        return FALSE;
    if (virDomainGetUUIDString(sb->dom, uuid) < 0) {
        virt_set_error(error, OC_EVIRT, "cannot read the UUID of sandbox %s", sb->id);
        return FALSE;
    }
    g_free(rec->checkpoint);
    rec->checkpoint = g_strdup(cp->id);
    core_agent_forget(sb->ctx, sb->id);
    if (virDomainIsActive(sb->dom) == 1 && virDomainDestroy(sb->dom) < 0) {
        virt_set_error(error, OC_EVIRT, "cannot stop sandbox %s", sb->id);
        return FALSE;
    }
    crash_point("restore", "stopped");
    if (virDomainHasManagedSaveImage(sb->dom, 0) == 1)
        virDomainManagedSaveRemove(sb->dom, 0);
    if (!virt_overlay_create(overlay, frozen, error))
        return FALSE;
    crash_point("restore", "overlay");
    VirtDomainSpec ds = {
        .domain_type = sb->ctx->domain_type, .kernel = kernel, .initrd = initrd,
        .disk = overlay, .console_log = log, .record = rec, .uuid = uuid,
        .nic = virt_save_image_has_nic(memory),
    };
    xml = virt_domain_xml(&ds);
    dom = virt_define(sb->ctx->conn, xml, error);
    if (!dom)
        return FALSE;
    virDomainFree(dom);
    crash_point("restore", "defined");
    remove_other_disks(sb, overlay);
    crash_point("restore", "pruned");
    mxml = virt_domain_migratable_xml(sb->dom, error);
    return mxml && core_network_before_start(sb->ctx, rec, &paused, error) &&
           virt_restore_as(sb->ctx->conn, memory, mxml, fifo, paused, error) &&
           core_network_after_start(sb->ctx, sb->dom, paused, error);
}

gboolean core_sandbox_restore(oc_sandbox *sb, const char *checkpoint_id, GError **error)
{
    g_autoptr(ImageCheckpoint) cp = image_checkpoint_load(sb->ctx->state_dir, checkpoint_id, error);
    gint64 t0 = g_get_monotonic_time();
    guint32 cpus, mem;
    AgentConn *conn = NULL;
    int lock_fd;
    gboolean ok;

    if (!cp || !core_sandbox_check_alive(sb, error))
        return FALSE;
    g_mutex_lock(&sb->lock);
    cpus = sb->record->cpu_count;
    mem = sb->record->memory_mb;
    g_mutex_unlock(&sb->lock);
    if (cp->cpu_count != cpus || cp->memory_mb != mem) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "checkpoint %s has %u cpus and %u MiB, sandbox "
                    "%s %u cpus and %u MiB: create a sandbox from the checkpoint instead",
                    cp->id, cp->cpu_count, cp->memory_mb, sb->id, cpus, mem);
        return FALSE;
    }
    lock_fd = core_power_begin(sb, error);
    if (lock_fd < 0)
        return FALSE;
    core_recover_disks(sb->ctx, sb->dom, sb->id); /* of one that died */
    core_recover_mark_disks(sb, NULL);
    ok = restart_from(sb, cp, error);
    if (ok)
        core_recover_unmark_disks(sb);
    crash_point("restore", "started");
    if (ok)
        conn = core_agent_acquire(sb->ctx, sb->id, sb->dom, CORE_AGENT_CONNECT_TIMEOUT_MS, error);
    if (conn)
        core_agent_release(sb->ctx, sb->id, conn);
    ok = ok && conn;
    if (!ok)
        g_prefix_error(error, "cannot restore sandbox %s to %s (it is stopped now: wake boots it "
                       "from its disk, or kill it): ", sb->id, cp->id);
    else
        log_info("%s: restored to checkpoint %s in %.2f s", sb->id, cp->id,
                 (g_get_monotonic_time() - t0) / 1e6);
    core_sandbox_update_record(sb, OC_WAKE_NONE, -1, NULL); /* our handle's copy */
    core_activity_touch(sb->ctx->state_dir, sb->id);
    close(lock_fd);
    image_layers_gc(sb->ctx->state_dir);
    return ok;
}

typedef struct {
    oc_context *ctx;
    const ImageCheckpoint *cp;
    VirtRecord *rec;   /* taken by the fork */
    oc_sandbox *sb;
    GError *error;
} ForkJob;

static gpointer fork_one(gpointer data)
{
    ForkJob *job = data;
    g_autofree char *frozen = image_checkpoint_file(job->cp, "disk.qcow2");
    g_autofree char *memory = image_checkpoint_file(job->cp, "memory.save");
    CoreBirth birth = { .backing = frozen, .image = memory, .scope = "fork" };

    job->sb = core_sandbox_make(job->ctx, g_steal_pointer(&job->rec), &birth, NULL, &job->error);
    return NULL;
}

static void sandbox_unref(gpointer sb)
{
    oc_sandbox_unref(sb);
}

typedef struct {
    ForkJob *jobs;
    guint count;
    gint next;
} ForkQueue;

static gpointer fork_worker(gpointer data)
{
    ForkQueue *q = data;
    guint i;

    while ((i = (guint)g_atomic_int_add(&q->next, 1)) < q->count)
        fork_one(&q->jobs[i]);
    return NULL;
}

GPtrArray *core_sandbox_fork(oc_context *ctx, const ImageCheckpoint *cp, const char *origin,
                             const CoreCreateSpec *spec, guint count, GError **error)
{
    CoreCreateSpec s = *spec;
    g_autofree ForkJob *jobs = g_new0(ForkJob, count);
    g_autofree GThread **threads = g_new0(GThread *, count);
    GPtrArray *out = g_ptr_array_new_with_free_func(sandbox_unref);
    GError *first = NULL;
    gint64 t0 = g_get_monotonic_time();

    s.template_name = cp->template_name;
    s.cpu_count = cp->cpu_count;
    s.memory_mb = cp->memory_mb;
    for (guint i = 0; i < count; i++) {
        jobs[i] = (ForkJob){ .ctx = ctx, .cp = cp, .rec = core_record_new(&s, &first) };
        if (!jobs[i].rec || !core_record_apply_template(ctx, jobs[i].rec, &first))
            goto fail;
        jobs[i].rec->origin = g_strdup(origin);
        jobs[i].rec->checkpoint = g_strcmp0(origin, "checkpoint") == 0 ? g_strdup(cp->id) : NULL;
    }
    /* As many at once as the host has CPUs: a restore keeps one busy (QEMU
     * reads every page of guest RAM as it loads it, which faults all of it
     * in), so more at once only slows each down.  Measured for 8 forks of
     * a 512 MiB guest on 2 CPUs: 28.7 s one by one, 19.7 s two at a time,
     * 20.7 s all at once. */
    ForkQueue q = { .jobs = jobs, .count = count };
    guint workers = MIN(count, (guint)MAX(g_get_num_processors(), 1));
    for (guint i = 0; i < workers; i++)
        threads[i] = g_thread_new("oc-fork", fork_worker, &q);
    for (guint i = 0; i < workers; i++)
        g_thread_join(threads[i]);
    for (guint i = 0; i < count; i++) {
        if (jobs[i].sb)
            g_ptr_array_add(out, jobs[i].sb);
        else if (!first)
            first = g_steal_pointer(&jobs[i].error);
        g_clear_error(&jobs[i].error);
    }
    if (!first) {
        g_autofree char *what = g_strdup_printf("%u fork(s) of %s", count, cp->id);
        log_info("%s made in %.2f s", what, (g_get_monotonic_time() - t0) / 1e6);
        core_context_warn_isolation(ctx, what);
        return out;
    }
fail:
    for (guint i = 0; i < out->len; i++)
        core_sandbox_kill(out->pdata[i], NULL);
    for (guint i = 0; i < count; i++)
        virt_record_free(jobs[i].rec);
    g_ptr_array_unref(out);
    g_propagate_prefixed_error(error, first, "cannot fork %s: ", cp->id);
    return NULL;
}
