/* sandbox.c: create, connect, kill, state and info of sandboxes.
 *
 * Create is crash-safe: the domain is defined with a "creating" mark while
 * its creator holds create.lock in the sandbox directory.  The mark goes
 * once the agent answers.  Whoever lists or connects and finds a mark with
 * nobody holding the lock removes the half-made sandbox, so a sandbox is
 * either listed and usable, or gone. */
#include "core/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/activity.h"
#include "core/network.h"
#include "core/pool.h"
#include "core/ports.h"
#include "core/power.h"
#include "core/recover.h"
#include "core/snapshots.h"
#include "image/checkpoints.h"
#include "image/store.h"
#include "image/templates.h"
#include "util/crashpoint.h"
#include "util/error.h"
#include "util/lockfile.h"
#include "util/log.h"
#include "virt/domain.h"
#include "virt/overlay.h"
#include "virt/power.h"
#include "virt/saveimage.h"

static char *new_sandbox_id(void)
{
    return g_strdup_printf("sb-%08x%04x", g_random_int(), g_random_int() & 0xffff);
}

static gboolean valid_env_name(const char *s, size_t len)
{
    if (len == 0 || g_ascii_isdigit(s[0]))
        return FALSE;
    for (size_t i = 0; i < len; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '_')
            return FALSE;
    return TRUE;
}

/* Copies "K=V" items into dst after checking them. */
static gboolean copy_pairs(GPtrArray *dst, const char *const *src, gboolean env, GError **error)
{
    for (size_t i = 0; src && src[i]; i++) {
        const char *eq = strchr(src[i], '=');
        if (!eq || eq == src[i] || (env && !valid_env_name(src[i], eq - src[i]))) {
            g_set_error(error, OC_ERROR, OC_EINVAL,
                        "invalid %s entry '%s': expected KEY=VALUE%s", env ? "envs" : "metadata",
                        src[i], env ? " with KEY made of letters, digits and '_'" : "");
            return FALSE;
        }
        g_ptr_array_add(dst, g_strdup(src[i]));
    }
    return TRUE;
}

oc_sandbox *core_sandbox_wrap(oc_context *ctx, virDomainPtr dom, VirtRecord *rec)
{
    oc_sandbox *sb = g_new0(oc_sandbox, 1);
    sb->refcount = 1;
    sb->ctx = oc_context_ref(ctx);
    sb->id = g_strdup(virDomainGetName(dom));
    sb->dom = dom;
    sb->record = rec;
    g_mutex_init(&sb->lock);
    return sb;
}

void core_sandbox_free(oc_sandbox *sb)
{
    core_ports_close(sb);
    virDomainFree(sb->dom);
    virt_record_free(sb->record);
    g_mutex_clear(&sb->lock);
    oc_context_unref(sb->ctx);
    g_free(sb->id);
    g_free(sb);
}

static int take_create_lock(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "create.lock", NULL);
    return lockfile_take(path, error);
}

static gboolean sandbox_dir_exists(oc_context *ctx, const char *id)
{
    g_autofree char *dir = image_sandbox_dir(ctx->state_dir, id);
    return g_file_test(dir, G_FILE_TEST_IS_DIR);
}

gboolean core_sandbox_creator_gone(oc_context *ctx, const char *id)
{
    g_autofree char *dir = image_sandbox_dir(ctx->state_dir, id);
    g_autofree char *path = g_build_filename(dir, "create.lock", NULL);
    return !lockfile_is_held(path);
}

void core_sandbox_remove(oc_context *ctx, virDomainPtr dom, const char *id)
{
    GError *err = NULL;

    core_agent_forget(ctx, id);
    if (dom && !virt_remove(dom, &err)) {
        log_warning("%s", err->message);
        g_clear_error(&err);
    }
    if (!image_sandbox_dir_remove(ctx->state_dir, id, &err)) {
        log_warning("%s", err->message);
        g_clear_error(&err);
    }
    core_network_remove(ctx, id);
}

static gboolean check_spec(const CoreCreateSpec *spec, GError **error)
{
    if (spec->cpu_count < 1 || spec->cpu_count > OC_MAX_CPU_COUNT) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cpuCount %u is out of range: use 1 to %d",
                    spec->cpu_count, OC_MAX_CPU_COUNT);
        return FALSE;
    }
    if (spec->memory_mb < OC_MIN_MEMORY_MB || spec->memory_mb > OC_MAX_MEMORY_MB) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "memoryMB %u is out of range: use %d to %d",
                    spec->memory_mb, OC_MIN_MEMORY_MB, OC_MAX_MEMORY_MB);
        return FALSE;
    }
    if (spec->timeout_s < 0 || spec->timeout_s > G_MAXUINT32) {
        g_set_error(error, OC_ERROR, OC_EINVAL,
                    "timeout %" G_GINT64_FORMAT " is out of range: use seconds >= 0 (0: never)",
                    spec->timeout_s);
        return FALSE;
    }
    return TRUE;
}

VirtRecord *core_record_new(const CoreCreateSpec *spec, GError **error)
{
    g_autoptr(VirtRecord) rec = virt_record_new();

    if (!check_spec(spec, error) ||
        !copy_pairs(rec->envs, spec->envs, TRUE, error) ||
        !copy_pairs(rec->metadata, spec->metadata, FALSE, error) ||
        (spec->network && !net_policy_check(spec->network, error)))
        return NULL;
    if (net_policy_restricts(spec->network))
        rec->network = net_policy_copy(spec->network);
    rec->id = new_sandbox_id();
    rec->template_name = g_strdup(spec->template_name);
    rec->created = g_get_real_time() / G_USEC_PER_SEC;
    rec->timeout_s = (guint32)spec->timeout_s;
    rec->cpu_count = spec->cpu_count;
    rec->memory_mb = spec->memory_mb;
    rec->creating = TRUE;
    return g_steal_pointer(&rec);
}

/* How long a restored guest may take to answer: it answers at once, unless
 * many restores share the host's cores. */
#define RESTORE_AGENT_TIMEOUT_MS 60000

oc_sandbox *core_sandbox_make(oc_context *ctx, VirtRecord *rec_in, const CoreBirth *birth,
                              int *hidden_lock, GError **error)
{
    g_autoptr(VirtRecord) rec = rec_in;
    g_autofree char *kernel = NULL, *initrd = NULL;
    g_autofree char *dir = NULL, *disk = NULL, *log = NULL, *xml = NULL;
    virDomainPtr dom = NULL;
    AgentConn *conn;
    const char *scope = birth->scope ? birth->scope : "create";
    int lock_fd = -1;
    gboolean paused = FALSE;
    gint64 t0 = g_get_monotonic_time(), t_start, t_run, t_up;

    if (!image_boot_paths(ctx->state_dir, &kernel, &initrd, error))
        return NULL;
    dir = image_sandbox_dir(ctx->state_dir, rec->id);
    if (g_mkdir_with_parents(dir, 0711) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot create %s: %s", dir, g_strerror(errno));
        return NULL;
    }
    crash_point(scope, "dir");
    lock_fd = take_create_lock(dir, error);
    if (lock_fd < 0)
        goto fail;
    crash_point(scope, "locked");
    disk = g_build_filename(dir, "disk.qcow2", NULL);
    log = g_build_filename(dir, "console.log", NULL);
    /* Shared with other creates, and keeps the template from being deleted
     * until the overlay on it exists (core_template_delete() sees it then).
     * Best effort: a fork's template is held by its checkpoint anyway. */
    int use_lock = image_template_use_lock(ctx->state_dir, rec->template_name, FALSE, NULL);
    gboolean made = virt_overlay_create(disk, birth->backing, error);
    if (use_lock >= 0)
        close(use_lock);
    if (!made)
        goto fail;
    crash_point(scope, "overlay");

    VirtDomainSpec ds = {
        .domain_type = ctx->domain_type, .kernel = kernel, .initrd = initrd,
        .disk = disk, .console_log = log, .record = rec,
        .nic = birth->image ? virt_save_image_has_nic(birth->image) : TRUE,
    };
    xml = virt_domain_xml(&ds);
    dom = virt_define(ctx->conn, xml, error);
    if (!dom)
        goto fail;
    crash_point(scope, "defined");
    if (!core_network_before_start(ctx, rec, &paused, error))
        goto fail;
    t_start = g_get_monotonic_time();
    crash_timer_start(scope, "starting");
    if (birth->image) {
        g_autofree char *mxml = virt_domain_migratable_xml(dom, error);
        g_autofree char *fifo = g_build_filename(dir, "restore.fifo", NULL);
        if (!mxml || !virt_restore_as(ctx->conn, birth->image, mxml, fifo, paused, error))
            goto fail;
    } else if (!virt_start(dom, paused, error)) {
        goto fail;
    }
    if (!core_network_after_start(ctx, dom, paused, error))
        goto fail;
    crash_timer_end(scope, "starting");
    crash_point(scope, "started");
    t_run = g_get_monotonic_time();

    conn = core_agent_acquire(ctx, rec->id, dom, birth->image ? RESTORE_AGENT_TIMEOUT_MS
                                                              : CORE_BOOT_AGENT_TIMEOUT_MS, error);
    if (!conn) {
        g_prefix_error(error, "the sandbox did not come up (console log: %s): ", log);
        goto fail;
    }
    core_agent_release(ctx, rec->id, conn);
    crash_point(scope, "agent");
    t_up = g_get_monotonic_time();
    log_debug("%s: %s: overlay and definition %.3f s, %s %.3f s, agent %.3f s", rec->id,
              birth->image ? "resumed" : "booted", (t_start - t0) / 1e6,
              birth->image ? "restore" : "start", (t_run - t_start) / 1e6, (t_up - t_run) / 1e6);

    if (hidden_lock) {
        /* A builder: hidden while the caller uses it, and removed by the
         * next list if the caller dies. */
        *hidden_lock = lock_fd;
    } else {
        rec->creating = FALSE;
        if (!virt_set_record(dom, rec, error))
            goto fail;
        crash_point(scope, "ready");
        /* Ready: the lock file goes first, then the lock. */
        g_autofree char *lock_path = g_build_filename(dir, "create.lock", NULL);
        unlink(lock_path);
        close(lock_fd);
    }
    core_activity_touch(ctx->state_dir, rec->id);
    return core_sandbox_wrap(ctx, dom, g_steal_pointer(&rec));

fail:
    core_sandbox_remove(ctx, dom, rec->id);
    if (dom)
        virDomainFree(dom);
    if (lock_fd >= 0)
        close(lock_fd);
    return NULL;
}

static gboolean warm_op(AgentConn *conn, gpointer data, GError **error)
{
    static const char *const argv[] = { "/bin/sh", "-c", "/bin/true", NULL };
    AgentExecRequest req = { .argv = argv, .env = (const char *const *)data, .timeout_ms = 60000 };
    AgentExecResult res = { 0 };
    gboolean ok = agent_exec_run(conn, &req, &res, error);

    agent_exec_result_clear(&res);
    return ok;
}

gboolean core_sandbox_warm(oc_sandbox *sb, GError **error)
{
    g_auto(GStrv) env = core_sandbox_exec_env(sb, NULL);
    return core_call_run(sb, warm_op, env, error);
}

gboolean core_record_apply_template(oc_context *ctx, VirtRecord *rec, GError **error)
{
    g_autoptr(ImageTemplate) t = image_template_load(ctx->state_dir, rec->template_name, error);
    g_autoptr(GPtrArray) envs = g_ptr_array_new_with_free_func(g_free);

    if (!t)
        return FALSE;
    for (char **e = t->env; *e; e++) {
        g_autofree char *key = g_strndup(*e, strcspn(*e, "="));
        if (!virt_kv_lookup(rec->envs, key))
            g_ptr_array_add(envs, g_strdup(*e));
    }
    for (guint i = 0; i < rec->envs->len; i++)
        g_ptr_array_add(envs, g_strdup(rec->envs->pdata[i]));
    g_ptr_array_unref(rec->envs);
    rec->envs = g_steal_pointer(&envs);
    g_free(rec->workdir);
    rec->workdir = g_strdup(t->workdir);
    g_free(rec->user);
    rec->user = g_strdup(t->user);
    g_strfreev(rec->agent);
    rec->agent = g_strdupv(t->agent);
    return TRUE;
}

oc_sandbox *core_sandbox_create(oc_context *ctx, const CoreCreateSpec *spec, GError **error)
{
    g_autoptr(VirtRecord) rec = core_record_new(spec, error);
    g_autoptr(ImageCheckpoint) snap = NULL;
    g_autofree char *template_disk = NULL;
    oc_sandbox *sb;

    if (!rec || !core_record_apply_template(ctx, rec, error))
        return NULL;
    template_disk = image_template_disk(ctx->state_dir, spec->template_name, error);
    if (!template_disk)
        return NULL;
    /* A pool member's QEMU was started outside any policy. */
    if (!net_policy_restricts(rec->network) && (sb = core_pool_claim(ctx, rec))) {
        core_context_warn_isolation(ctx, sb->id);
        return sb;
    }
    snap = core_template_snapshot_fresh(ctx, spec->template_name, spec->cpu_count,
                                        spec->memory_mb);
    if (snap) {
        GError *err = NULL;
        g_autofree char *snap_disk = image_checkpoint_file(snap, "disk.qcow2");
        g_autofree char *snap_memory = image_checkpoint_file(snap, "memory.save");
        VirtRecord *copy = virt_record_copy(rec);
        CoreBirth birth = { .backing = snap_disk, .image = snap_memory };

        copy->origin = g_strdup("snapshot");
        if ((sb = core_sandbox_make(ctx, copy, &birth, NULL, &err))) {
            log_info("%s: created from the snapshot of template %s", sb->id, rec->template_name);
            core_context_warn_isolation(ctx, sb->id);
            return sb;
        }
        log_warning("%s: cannot start from the snapshot of template %s (%s); booting instead",
                    rec->id, rec->template_name, err->message);
        g_error_free(err);
    }
    CoreBirth boot = { .backing = template_disk };
    rec->origin = g_strdup("boot");
    sb = core_sandbox_make(ctx, g_steal_pointer(&rec), &boot, NULL, error);
    if (sb) {
        log_info("%s: created from template %s (cold boot)", sb->id, sb->record->template_name);
        core_context_warn_isolation(ctx, sb->id);
    }
    return sb;
}

/* Looks up a sandbox's domain and record; removes it and answers not found
 * if it is a half-made sandbox whose creator died. */
static virDomainPtr lookup_ready(oc_context *ctx, const char *id, VirtRecord **rec_out,
                                 GError **error)
{
    virDomainPtr dom = virt_lookup(ctx->conn, id, error);
    VirtRecord *rec;

    if (!dom)
        return NULL;
    rec = virt_get_record(dom, error);
    if (!rec) {
        virDomainFree(dom);
        return NULL;
    }
    if (!sandbox_dir_exists(ctx, id)) {
        /* The state directory is the namespace: this sandbox lives in
         * another one on the same libvirt, whose files we cannot see. */
        g_set_error(error, OC_ERROR, OC_ENOTFOUND, "no sandbox with id '%s' in state directory "
                    "%s (it belongs to another state directory)", id, ctx->state_dir);
        virt_record_free(rec);
        virDomainFree(dom);
        return NULL;
    }
    if (rec->creating) {
        gboolean gone = core_sandbox_creator_gone(ctx, id);
        if (gone) {
            log_info("%s: removing a sandbox whose creator died", id);
            core_sandbox_remove(ctx, dom, id);
        }
        g_set_error(error, OC_ERROR, gone ? OC_ENOTFOUND : OC_ESTATE,
                    gone ? "no sandbox with id '%s': its creation was interrupted and it was removed"
                         : "sandbox %s is still being created; try again when create returns", id);
        virt_record_free(rec);
        virDomainFree(dom);
        return NULL;
    }
    if (rec->pool) {
        g_set_error(error, OC_ERROR, OC_ENOTFOUND, "no sandbox with id '%s': it is an unclaimed "
                    "member of the warm pool", id);
        virt_record_free(rec);
        virDomainFree(dom);
        return NULL;
    }
    *rec_out = rec;
    return dom;
}

oc_sandbox *core_sandbox_connect(oc_context *ctx, const char *id, GError **error)
{
    VirtRecord *rec = NULL;
    virDomainPtr dom = lookup_ready(ctx, id, &rec, error);

    return dom ? core_sandbox_wrap(ctx, dom, rec) : NULL;
}

gboolean core_sandbox_check_alive(oc_sandbox *sb, GError **error)
{
    gboolean killed;

    g_mutex_lock(&sb->lock);
    killed = sb->killed;
    g_mutex_unlock(&sb->lock);
    if (killed)
        g_set_error(error, OC_ERROR, OC_ENOTFOUND,
                    "sandbox %s was killed; create a new sandbox", sb->id);
    return !killed;
}

gboolean core_sandbox_kill(oc_sandbox *sb, GError **error)
{
    GError *err = NULL;

    if (!core_sandbox_check_alive(sb, error))
        return FALSE;
    /* The domain may have been killed by another process since we looked. */
    if (virt_get_state(sb->dom, NULL, &err) < 0) {
        g_propagate_error(error, err);
        return FALSE;
    }
    core_ports_close(sb); /* its connections would wake what is being killed */
    core_agent_forget(sb->ctx, sb->id);
    if (!virt_stop(sb->dom, error))
        return FALSE;
    crash_point("kill", "stopped");
    if (!virt_remove(sb->dom, error))
        return FALSE;
    crash_point("kill", "undefined");
    if (!image_sandbox_dir_remove(sb->ctx->state_dir, sb->id, error))
        return FALSE;
    crash_point("kill", "removed");
    core_network_remove(sb->ctx, sb->id);
    image_layers_gc(sb->ctx->state_dir); /* checkpoints deleted while it built on them */
    g_mutex_lock(&sb->lock);
    sb->killed = TRUE;
    g_mutex_unlock(&sb->lock);
    log_info("%s: killed", sb->id);
    return TRUE;
}

int core_sandbox_state_why(oc_sandbox *sb, const char **why, GError **error)
{
    if (!core_sandbox_check_alive(sb, error))
        return -1;
    return virt_get_state(sb->dom, why, error);
}

int core_sandbox_state(oc_sandbox *sb, GError **error)
{
    return core_sandbox_state_why(sb, NULL, error);
}

gboolean core_sandbox_update_record(oc_sandbox *sb, int last_wake, gint64 timeout_s,
                                    GError **error)
{
    g_autoptr(VirtRecord) rec = NULL;

    /* Read-modify-write of the stored record, so fields other processes
     * changed are kept. */
    rec = virt_get_record(sb->dom, error);
    if (!rec)
        return FALSE;
    if (last_wake != OC_WAKE_NONE)
        rec->last_wake = last_wake;
    if (timeout_s >= 0)
        rec->timeout_s = (guint32)timeout_s;
    return core_sandbox_store_record(sb, g_steal_pointer(&rec), error);
}

gboolean core_sandbox_store_record(oc_sandbox *sb, VirtRecord *rec_in, GError **error)
{
    g_autoptr(VirtRecord) rec = rec_in;

    if (!virt_set_record(sb->dom, rec, error))
        return FALSE;
    g_mutex_lock(&sb->lock);
    virt_record_free(sb->record);
    sb->record = g_steal_pointer(&rec);
    g_mutex_unlock(&sb->lock);
    return TRUE;
}

gboolean core_sandbox_set_timeout(oc_sandbox *sb, guint32 timeout_s, GError **error)
{
    if (!core_sandbox_check_alive(sb, error) ||
        !core_sandbox_update_record(sb, OC_WAKE_NONE, timeout_s, error))
        return FALSE;
    core_activity_touch(sb->ctx->state_dir, sb->id);
    return TRUE;
}

static char **kv_keys(GPtrArray *kv)
{
    char **keys = g_new0(char *, kv->len + 1);
    for (guint i = 0; i < kv->len; i++) {
        const char *item = kv->pdata[i];
        keys[i] = g_strndup(item, strchr(item, '=') - item);
    }
    return keys;
}

static oc_sandbox_info *info_new(oc_context *ctx, VirtRecord *rec, int state, const char *why)
{
    oc_sandbox_info *info = g_new0(oc_sandbox_info, 1);
    info->record = rec;
    info->state = state;
    info->reason = why;
    info->accelerator = ctx->accelerator;
    if (state == OC_STATE_RUNNING && rec->timeout_s > 0)
        info->idle_deadline =
            (core_activity_deadline_us(ctx->state_dir, rec->id, rec->created, rec->timeout_s) +
             G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
    info->meta_keys = kv_keys(rec->metadata);
    info->env_keys = kv_keys(rec->envs);
    return info;
}

void core_sandbox_info_free(oc_sandbox_info *info)
{
    if (!info)
        return;
    virt_record_free(info->record);
    g_strfreev(info->meta_keys);
    g_strfreev(info->env_keys);
    g_free(info);
}

oc_sandbox_info *core_sandbox_info(oc_sandbox *sb, GError **error)
{
    VirtRecord *rec;
    const char *why;
    int state = core_sandbox_state_why(sb, &why, error);

    if (state < 0)
        return NULL;
    rec = virt_get_record(sb->dom, error);
    return rec ? info_new(sb->ctx, rec, state, why) : NULL;
}

static gboolean matches(VirtRecord *rec, const char *const *filter)
{
    for (size_t i = 0; filter && filter[i]; i++) {
        const char *eq = strchr(filter[i], '=');
        g_autofree char *key = eq ? g_strndup(filter[i], eq - filter[i]) : g_strdup(filter[i]);
        const char *have = virt_kv_lookup(rec->metadata, key);
        if (!have || (eq && !g_str_equal(have, eq + 1)))
            return FALSE;
    }
    return TRUE;
}

GPtrArray *core_sandbox_list(oc_context *ctx, const char *const *filter, GError **error)
{
    g_autoptr(GPtrArray) doms = virt_list_sandboxes(ctx->conn, error);
    GPtrArray *out;

    if (!doms)
        return NULL;
    out = g_ptr_array_new_with_free_func((GDestroyNotify)core_sandbox_info_free);
    for (guint i = 0; i < doms->len; i++) {
        const char *id = virDomainGetName(doms->pdata[i]);
        VirtRecord *rec = NULL;
        g_autoptr(GError) why = NULL;
        virDomainPtr dom = lookup_ready(ctx, id, &rec, &why);
        const char *reason;
        int state;

        if (!dom) {
            /* gone, half-made, being created, or not ours */
            log_debug("list: skipping %s: %s", id, why->message);
            continue;
        }
        state = virt_get_state(dom, &reason, NULL);
        virDomainFree(dom);
        if (state < 0 || !matches(rec, filter)) {
            virt_record_free(rec);
            continue;
        }
        g_ptr_array_add(out, info_new(ctx, rec, state, reason));
    }
    core_recover_sweep(ctx);
    return out;
}

gboolean core_call_begin(oc_sandbox *sb, CoreCall *call, GError **error)
{
    gboolean waited, marked;
    const char *why = NULL;
    int state;

    call->conn = NULL;
    call->activity_fd = -1;
    if (!core_sandbox_check_alive(sb, error))
        return FALSE;
    call->activity_fd = core_activity_begin(sb->ctx->state_dir, sb->id, &waited);
    /* A live agent connection means a running domain: skip the libvirt
     * round trip on the hot path.  If the domain goes away, the socket
     * hangs up and the next call takes the slow path.  But while a
     * hibernate is under way (or after waiting for one) the connection may
     * not have seen its hang-up yet. */
    marked = core_power_hibernating(sb->ctx, sb->id);
    if (waited || marked)
        core_agent_forget(sb->ctx, sb->id);
    else if ((call->conn = core_agent_acquire_live(sb->ctx, sb->id)))
        return TRUE;
    /* A hibernate or wake that another process began (and may have died
     * in) runs on in libvirt: let it finish, then look. */
    if (!virt_wait_no_job(sb->dom, CORE_JOB_WAIT_MS, error))
        goto fail;
    if (virt_resume_paused(sb->dom))
        log_info("%s: resumed: an operation that died left it paused", sb->id);
    state = core_sandbox_state_why(sb, &why, error);
    if (marked && state == OC_STATE_RUNNING)
        core_power_clear_mark(sb->ctx, sb->id); /* that hibernate failed */
    if (state == OC_STATE_HIBERNATED) {
        /* Auto-wake: hibernation is invisible to calls, except in time. */
        if (!core_sandbox_wake(sb, -1, NULL, error))
            goto fail;
        state = OC_STATE_RUNNING;
    }
    if (state < 0)
        goto fail;
    if (state != OC_STATE_RUNNING) {
        g_set_error(error, OC_ERROR, OC_ESTATE, "sandbox %s is %s, not running: %s", sb->id,
                    oc_sandbox_state_name(state),
                    why ? why
                        : state == OC_STATE_STOPPED ? "wake it to boot it again from its disk"
                                                    : "kill it and create a new sandbox");
        goto fail;
    }
    call->conn = core_agent_acquire(sb->ctx, sb->id, sb->dom, CORE_AGENT_CONNECT_TIMEOUT_MS, error);
    if (call->conn)
        return TRUE;
fail:
    core_activity_end(call->activity_fd);
    call->activity_fd = -1;
    return FALSE;
}

/* How long a call whose agent connection died waits for libvirt to see
 * its QEMU process gone: it handles the monitor's hang-up within
 * milliseconds, so this is only slack for a loaded host. */
#define LOST_STATE_WAIT_MS 3000

/* A call lost its agent connection: if the VM stopped meanwhile (QEMU
 * killed or crashed, a hibernate from another process), say so, and why. */
static void explain_lost_connection(oc_sandbox *sb, GError **error)
{
    gint64 end = g_get_monotonic_time() + LOST_STATE_WAIT_MS * 1000;
    const char *why = NULL;
    int state;

    while ((state = core_sandbox_state_why(sb, &why, NULL)) == OC_STATE_RUNNING &&
           g_get_monotonic_time() < end)
        g_usleep(50 * 1000);
    if (state > 0 && state != OC_STATE_RUNNING)
        g_prefix_error(error, "it is %s now%s%s%s; the call failed: ",
                       oc_sandbox_state_name(state), why ? " (" : "", why ? why : "",
                       why ? ")" : "");
}

gboolean core_call_run(oc_sandbox *sb, CoreCallOp op, gpointer data, GError **error)
{
    CoreCall call;
    gboolean ok = core_call_begin(sb, &call, error);

    if (ok) {
        ok = op(call.conn, data, error);
        gboolean lost = !ok && !agent_conn_is_alive(call.conn);
        core_call_end(sb, &call);
        if (lost)
            explain_lost_connection(sb, error);
        if (!ok)
            g_prefix_error(error, "sandbox %s: ", sb->id);
    }
    return ok;
}

void core_call_end(oc_sandbox *sb, CoreCall *call)
{
    if (call->conn)
        core_agent_release(sb->ctx, sb->id, call->conn);
    core_activity_end(call->activity_fd);
    call->conn = NULL;
    call->activity_fd = -1;
}

static const char *const guest_default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "USER=root",
    "LOGNAME=root",
    "SHELL=/bin/bash",
    "LANG=C.UTF-8",
    NULL,
};

static void env_set(GPtrArray *env, const char *kv)
{
    size_t klen = strchr(kv, '=') - kv + 1;
    for (guint i = 0; i < env->len; i++) {
        if (strncmp(env->pdata[i], kv, klen) == 0) {
            g_free(env->pdata[i]);
            env->pdata[i] = g_strdup(kv);
            return;
        }
    }
    g_ptr_array_add(env, g_strdup(kv));
}

char **core_sandbox_exec_env(oc_sandbox *sb, const char *const *extra)
{
    GPtrArray *env = g_ptr_array_new();

    for (size_t i = 0; guest_default_env[i]; i++)
        env_set(env, guest_default_env[i]);
    g_mutex_lock(&sb->lock);
    for (guint i = 0; i < sb->record->envs->len; i++)
        env_set(env, sb->record->envs->pdata[i]);
    g_mutex_unlock(&sb->lock);
    for (size_t i = 0; extra && extra[i]; i++)
        env_set(env, extra[i]);
    g_ptr_array_add(env, NULL);
    return (char **)g_ptr_array_free(env, FALSE);
}
