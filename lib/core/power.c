/* power.c: hibernate, wake and reboot of a sandbox, and the idle reaper's
 * action.
 *
 * Transitions of one sandbox are serialised across processes by an flock on
 * sandboxes/ID/power.lock.  A process that dies holding it loses it, and
 * libvirt finishes (or undoes) the save or restore it had begun, so the
 * sandbox ends up hibernated or running; whoever comes next waits for
 * libvirt's job to end before looking at the state. */
#include "core/power.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <libvirt/virterror.h>
#include <unistd.h>

#include "core/activity.h"
#include "core/network.h"
#include "image/store.h"
#include "util/crashpoint.h"
#include "util/error.h"
#include "util/lockfile.h"
#include "util/log.h"
#include "virt/domain.h"
#include "virt/power.h"

/* A restored guest answers at once; one that does not within this long is
 * taken as damaged by a bad image, and the sandbox is cold-booted. */
#define RESTORE_AGENT_TIMEOUT_MS 20000
/* How long a soft reboot waits for the guest's sync. */
#define REBOOT_SYNC_TIMEOUT_MS 3000

static int take_power_lock(oc_sandbox *sb, GError **error)
{
    g_autofree char *dir = image_sandbox_dir(sb->ctx->state_dir, sb->id);
    g_autofree char *path = g_build_filename(dir, "power.lock", NULL);
    int fd = lockfile_take(path, error);

    if (fd < 0)
        g_prefix_error(error, "sandbox %s: ", sb->id);
    return fd;
}

/* sandboxes/ID/hibernating exists from just before a save starts until it
 * has ended: a process that dies meanwhile leaves it (and libvirt goes on
 * with the save), so calls look at it before trusting a live connection. */
static char *hibernating_mark(oc_context *ctx, const char *id)
{
    g_autofree char *dir = image_sandbox_dir(ctx->state_dir, id);
    return g_build_filename(dir, "hibernating", NULL);
}

gboolean core_power_hibernating(oc_context *ctx, const char *id)
{
    g_autofree char *path = hibernating_mark(ctx, id);
    return access(path, F_OK) == 0;
}

void core_power_clear_mark(oc_context *ctx, const char *id)
{
    g_autofree char *path = hibernating_mark(ctx, id);
    unlink(path);
}

static void set_mark(oc_context *ctx, const char *id)
{
    g_autofree char *path = hibernating_mark(ctx, id);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    if (fd >= 0)
        close(fd);
    else
        log_warning("%s: cannot create %s: %s", id, path, g_strerror(errno));
}

int core_power_begin(oc_sandbox *sb, GError **error)
{
    if (!core_sandbox_check_alive(sb, error))
        return -1;
    return take_power_lock(sb, error);
}

/* The state once no libvirt job runs on the domain. */
static int settled_state(oc_sandbox *sb, GError **error)
{
    if (!virt_wait_no_job(sb->dom, CORE_JOB_WAIT_MS, error))
        return -1;
    return core_sandbox_state(sb, error);
}

/* Hibernates sb.  With idle_timeout_s > 0 (the reaper), only if no call is
 * in flight and none ended in the last idle_timeout_s seconds: otherwise
 * *skipped is set and nothing happens. */
static gboolean hibernate(oc_sandbox *sb, guint32 idle_timeout_s, gboolean *skipped,
                          GError **error)
{
    int lock_fd, idle_fd, state;
    gboolean ok = FALSE;

    lock_fd = core_power_begin(sb, error);
    if (lock_fd < 0)
        return FALSE;
    crash_point("hibernate", "locked");
    /* With the busy lock, calls that begin meanwhile wait and then wake the
     * sandbox; without it (a call is in flight), they fail as it goes. */
    idle_fd = core_activity_lock_idle(sb->ctx->state_dir, sb->id);
    if (idle_timeout_s > 0 &&
        (idle_fd < 0 || g_get_real_time() < core_activity_deadline_us(sb->ctx->state_dir, sb->id,
                                                                     0, idle_timeout_s))) {
        *skipped = TRUE;
        ok = TRUE;
        goto out;
    }
    state = settled_state(sb, error);
    if (state == OC_STATE_HIBERNATED) {
        ok = TRUE; /* already: nothing to do */
    } else if (state == OC_STATE_RUNNING) {
        gint64 t0 = g_get_monotonic_time();
        set_mark(sb->ctx, sb->id);
        crash_point("hibernate", "marked");
        core_agent_forget(sb->ctx, sb->id); /* its socket goes with QEMU */
        crash_timer_start("hibernate", "saving");
        ok = virt_hibernate(sb->dom, error);
        crash_point("hibernate", "synced");
        core_power_clear_mark(sb->ctx, sb->id);
        if (ok)
            log_info("%s: hibernated in %.2f s", sb->id, (g_get_monotonic_time() - t0) / 1e6);
    } else if (state > 0) {
        g_set_error(error, OC_ERROR, OC_ESTATE, "sandbox %s is %s: only a running sandbox can "
                    "hibernate", sb->id, oc_sandbox_state_name(state));
    }
out:
    if (idle_fd >= 0)
        close(idle_fd);
    close(lock_fd);
    return ok;
}

gboolean core_sandbox_hibernate(oc_sandbox *sb, GError **error)
{
    return hibernate(sb, 0, NULL, error);
}

/* Connects to the agent of a sandbox just started, which sets the guest
 * clock and reseeds its RNG; a restored guest that does not answer is
 * booted again from its disk. */
static gboolean bring_up_agent(oc_sandbox *sb, gboolean paused, int *kind, GError **error)
{
    guint timeout = *kind == OC_WAKE_RESTORED ? RESTORE_AGENT_TIMEOUT_MS : CORE_BOOT_AGENT_TIMEOUT_MS;
    GError *err = NULL;
    AgentConn *conn = core_agent_acquire(sb->ctx, sb->id, sb->dom, timeout, &err);

    if (!conn && *kind == OC_WAKE_RESTORED) {
        log_warning("%s: the restored sandbox does not answer (%s); booting it from its disk",
                    sb->id, err->message);
        g_clear_error(&err);
        core_agent_forget(sb->ctx, sb->id);
        virDomainDestroy(sb->dom);
        *kind = OC_WAKE_COLD_BOOT;
        if (!virt_cold_boot(sb->dom, paused, error) ||
            !core_network_after_start(sb->ctx, sb->dom, paused, error))
            return FALSE;
        conn = core_agent_acquire(sb->ctx, sb->id, sb->dom, CORE_BOOT_AGENT_TIMEOUT_MS, &err);
    }
    if (!conn) {
        g_propagate_prefixed_error(error, err, "sandbox %s did not come back: ", sb->id);
        return FALSE;
    }
    core_agent_release(sb->ctx, sb->id, conn);
    crash_point("wake", "agent");
    return TRUE;
}

gboolean core_sandbox_wake(oc_sandbox *sb, gint64 timeout_s, int *kind_out, GError **error)
{
    int lock_fd, state, kind = OC_WAKE_NONE;
    gboolean ok = FALSE;

    lock_fd = core_power_begin(sb, error);
    if (lock_fd < 0)
        return FALSE;
    state = settled_state(sb, error);
    if (state == OC_STATE_ERROR) {
        gboolean resumed = FALSE;
        ok = virt_resume_after_io_error(sb->dom, &resumed, error);
        if (ok && resumed) {
            log_info("%s: resumed after a disk error", sb->id);
        } else if (ok) {
            ok = FALSE;
            g_set_error(error, OC_ERROR, OC_ESTATE, "sandbox %s is in state error and cannot "
                        "be woken; kill it and create a new one", sb->id);
        }
    } else if (state == OC_STATE_RUNNING) {
        ok = TRUE;
    } else if (state == OC_STATE_HIBERNATED || state == OC_STATE_STOPPED) {
        gint64 t0 = g_get_monotonic_time();
        /* as stored now: another process may have changed the policy */
        g_autoptr(VirtRecord) rec = virt_get_record(sb->dom, error);
        gboolean paused = FALSE;
        crash_point("wake", "locked");
        ok = rec && core_network_before_start(sb->ctx, rec, &paused, error);
        crash_timer_start("wake", "restoring");
        ok = ok && virt_restore_or_boot(sb->dom, paused, &kind, error);
        crash_timer_end("wake", "restoring");
        crash_point("wake", "started");
        ok = ok && core_network_after_start(sb->ctx, sb->dom, paused, error);
        ok = ok && bring_up_agent(sb, paused, &kind, error);
        if (ok)
            log_info("%s: woken (%s) in %.2f s", sb->id, oc_wake_kind_name(kind),
                     (g_get_monotonic_time() - t0) / 1e6);
    } else if (state > 0) {
        g_set_error(error, OC_ERROR, OC_ESTATE, "sandbox %s is in state %s and cannot be woken; "
                    "kill it and create a new one", sb->id, oc_sandbox_state_name(state));
    }
    if (ok && (kind != OC_WAKE_NONE || timeout_s >= 0))
        ok = core_sandbox_update_record(sb, kind, timeout_s, error);
    crash_point("wake", "recorded");
    if (ok) {
        core_power_clear_mark(sb->ctx, sb->id); /* of a hibernate that died */
        core_activity_touch(sb->ctx->state_dir, sb->id);
    }
    close(lock_fd);
    if (ok && kind_out)
        *kind_out = kind;
    return ok;
}

/* Before a soft reboot, as `reboot` in the guest would: the guest's writes
 * reach its disk (a hard one is for a VM that may not answer at all).  Best effort, briefly: a guest wedged enough to need a
 * reboot may not answer, and its disk then recovers as after a power cut. */
static void guest_sync(oc_sandbox *sb)
{
    static const char *const argv[] = { "sync", NULL };
    AgentExecRequest req = { .argv = argv, .timeout_ms = REBOOT_SYNC_TIMEOUT_MS };
    AgentExecResult res = { 0 };
    g_autoptr(GError) err = NULL;
    AgentConn *conn = core_agent_acquire(sb->ctx, sb->id, sb->dom, REBOOT_SYNC_TIMEOUT_MS, &err);

    if (conn && agent_exec_run(conn, &req, &res, &err) && res.exit_code == 0)
        log_info("%s: synced before the reboot", sb->id);
    else
        log_warning("%s: rebooting without a sync (%s)", sb->id,
                    err ? err->message : "sync failed in the guest");
    if (conn)
        core_agent_release(sb->ctx, sb->id, conn);
    agent_exec_result_clear(&res);
}

/* A new QEMU process on the same disk; a hibernated sandbox's saved memory
 * is dropped.  Soft or hard, the VM is stopped and started: a reset in
 * place is not possible, since the domain stops on a reset (on_reboot
 * destroy, which is what keeps a guest from rebooting itself in a loop). */
static gboolean restart(oc_sandbox *sb, int state, gboolean hard, GError **error)
{
    g_autoptr(VirtRecord) rec = NULL;
    gboolean paused = FALSE;

    if (!hard)
        guest_sync(sb);
    core_agent_forget(sb->ctx, sb->id);
    if (state == OC_STATE_RUNNING || state == OC_STATE_ERROR) {
        if (virDomainDestroy(sb->dom) < 0) {
            virt_set_error(error, OC_EVIRT, "cannot stop sandbox %s", sb->id);
            return FALSE;
        }
    }
    crash_point("reboot", "stopped");
    /* as stored now: another process may have changed the policy */
    return (rec = virt_get_record(sb->dom, error)) &&
           core_network_before_start(sb->ctx, rec, &paused, error) &&
           virt_cold_boot(sb->dom, paused, error) &&
           core_network_after_start(sb->ctx, sb->dom, paused, error);
}

gboolean core_sandbox_reboot(oc_sandbox *sb, gboolean hard, GError **error)
{
    int lock_fd, state;
    gboolean ok = FALSE;
    gint64 t0 = g_get_monotonic_time();

    lock_fd = core_power_begin(sb, error);
    if (lock_fd < 0)
        return FALSE;
    state = settled_state(sb, error);
    if (state < 0)
        goto out;
    if (state != OC_STATE_RUNNING && !hard) {
        g_set_error(error, OC_ERROR, OC_ESTATE, "sandbox %s is %s: only a running sandbox "
                    "reboots softly; wake it first, or power-cycle it (OC_REBOOT_HARD), which "
                    "boots it from its disk", sb->id, oc_sandbox_state_name(state));
        goto out;
    }
    ok = restart(sb, state, hard, error);
    if (ok) {
        int kind = OC_WAKE_COLD_BOOT;
        ok = bring_up_agent(sb, FALSE, &kind, error) &&
             core_sandbox_update_record(sb, kind, -1, error);
    }
    if (ok) {
        core_power_clear_mark(sb->ctx, sb->id);
        core_activity_touch(sb->ctx->state_dir, sb->id);
        log_info("%s: %s in %.2f s", sb->id, hard ? "power-cycled" : "rebooted",
                 (g_get_monotonic_time() - t0) / 1e6);
    } else {
        g_prefix_error(error, "cannot %s sandbox %s: ", hard ? "power-cycle" : "reboot", sb->id);
    }
out:
    close(lock_fd);
    return ok;
}

gboolean core_sandbox_reap(oc_context *ctx, const char *id, guint32 timeout_s)
{
    g_autoptr(GError) err = NULL;
    gboolean skipped = FALSE, done = FALSE;
    oc_sandbox *sb = core_sandbox_connect(ctx, id, &err);

    if (!sb)
        return FALSE;
    if (hibernate(sb, timeout_s, &skipped, &err)) {
        done = !skipped;
        if (done)
            log_info("%s: hibernated after %u s idle", id, timeout_s);
    } else if (core_sandbox_state(sb, NULL) == OC_STATE_RUNNING) {
        log_warning("%s: idle for %u s but cannot hibernate (%s); stopping it", id, timeout_s,
                    err->message);
        core_agent_forget(ctx, id);
        done = virDomainDestroy(sb->dom) == 0;
        if (!done)
            log_warning("%s: cannot stop it either: %s", id, virGetLastErrorMessage());
    }
    oc_sandbox_unref(sb);
    return done;
}
