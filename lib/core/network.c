/* network.c: egress policies of sandboxes (network.h). */
#include "core/network.h"

#include <libvirt/virterror.h>
#include <unistd.h>

#include "core/power.h"
#include "image/store.h"
#include "net/egress.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"

/* How long removal waits for the cgroup to empty after QEMU was stopped. */
#define REMOVE_WAIT_MS 2000

gboolean core_network_before_start(oc_context *ctx, const VirtRecord *rec, gboolean *paused,
                                   GError **error)
{
    g_autofree char *cgroup = NULL;
    gint64 t0 = g_get_monotonic_time();
    GError *err = NULL;

    *paused = FALSE;
    if (!net_policy_restricts(rec->network))
        return TRUE;
    cgroup = net_egress_cgroup(ctx->state_dir, rec->id, error);
    if (!cgroup)
        return FALSE;
    if (!net_egress_apply(cgroup, rec->network, NULL, &err)) {
        /* A name that does not resolve now (the host's DNS is down) keeps
         * the addresses it had: the map the cgroup holds from before. */
        if (err->code != OC_EINVAL || net_egress_hooks_attached(cgroup, NULL) != NET_EGRESS_HOOKS) {
            g_propagate_prefixed_error(error, err, "sandbox %s: ", rec->id);
            return FALSE;
        }
        log_warning("%s: %s; the policy's rules as last set stay in force", rec->id,
                    err->message);
        g_error_free(err);
    }
    log_debug("%s: egress policy set up in %.1f ms", rec->id,
              (g_get_monotonic_time() - t0) / 1e3);
    *paused = TRUE;
    return TRUE;
}

gboolean core_network_after_start(oc_context *ctx, virDomainPtr dom, gboolean paused,
                                  GError **error)
{
    const char *id = virDomainGetName(dom);
    g_autofree char *cgroup = NULL;
    gint64 t0 = g_get_monotonic_time();
    pid_t pid = 0;

    if (!paused)
        return TRUE;
    cgroup = net_egress_cgroup(ctx->state_dir, id, error);
    if (cgroup)
        pid = virt_domain_pid(dom, error);
    if (pid && net_egress_add_pid(cgroup, pid, error)) {
        if (virDomainResume(dom) == 0) {
            log_debug("%s: QEMU (pid %d) under its egress policy, resumed in %.1f ms", id,
                      (int)pid, (g_get_monotonic_time() - t0) / 1e3);
            return TRUE;
        }
        virt_set_error(error, OC_EVIRT, "cannot resume sandbox %s", id);
    }
    /* It never ran: better stopped than running outside its policy. */
    virDomainDestroy(dom);
    g_prefix_error(error, "sandbox %s was stopped because its egress policy could not be put "
                   "in force: ", id);
    return FALSE;
}

/* The policy as it is kept: NULL unless it restricts something. */
static NetPolicy *kept_policy(const NetPolicy *policy)
{
    return net_policy_restricts(policy) ? net_policy_copy(policy) : NULL;
}

static gboolean set_network(oc_sandbox *sb, const NetPolicy *policy, GError **error)
{
    g_autoptr(VirtRecord) rec = virt_get_record(sb->dom, error);
    g_autofree char *cgroup = NULL;
    int state;

    if (!rec)
        return FALSE;
    cgroup = net_egress_cgroup(sb->ctx->state_dir, sb->id, net_policy_restricts(policy) ? error
                                                                                        : NULL);
    if (net_policy_restricts(policy)) {
        if (!cgroup || !net_egress_apply(cgroup, policy, NULL, error))
            return FALSE;
        state = core_sandbox_state(sb, error);
        if (state < 0)
            return FALSE;
        if (state == OC_STATE_RUNNING || state == OC_STATE_ERROR) {
            /* a QEMU that ran without a policy: its open connections stay */
            pid_t pid = virt_domain_pid(sb->dom, error);
            if (!pid || !net_egress_add_pid(cgroup, pid, error))
                return FALSE;
        }
    } else if (cgroup && net_egress_hooks_attached(cgroup, NULL) > 0) {
        /* QEMU stays in the cgroup until it stops; its map now allows all */
        if (!net_egress_apply(cgroup, NULL, NULL, error))
            return FALSE;
    }
    net_policy_free(rec->network);
    rec->network = kept_policy(policy);
    return core_sandbox_store_record(sb, g_steal_pointer(&rec), error);
}

gboolean core_sandbox_set_network(oc_sandbox *sb, const NetPolicy *policy, GError **error)
{
    int lock_fd;
    gboolean ok;

    if (policy && !net_policy_check(policy, error))
        return FALSE;
    /* not while a wake or hibernate of another process starts or stops QEMU */
    lock_fd = core_power_begin(sb, error);
    if (lock_fd < 0)
        return FALSE;
    ok = set_network(sb, policy, error);
    close(lock_fd);
    if (!ok)
        g_prefix_error(error, "cannot set the network policy of sandbox %s: ", sb->id);
    else
        log_info("%s: network policy %s", sb->id, net_policy_restricts(policy) ? "set" : "cleared");
    return ok;
}

void core_network_remove(oc_context *ctx, const char *id)
{
    g_autofree char *cgroup = net_egress_cgroup(ctx->state_dir, id, NULL);
    GError *err = NULL;

    if (!cgroup)
        return;
    /* QEMU's last threads may take a moment to leave it after it was killed */
    for (int waited = 0; !net_egress_remove(cgroup, &err); waited += 50) {
        if (err->code != OC_ESTATE || waited >= REMOVE_WAIT_MS) {
            log_warning("%s: %s", id, err->message);
            g_error_free(err);
            return;
        }
        g_clear_error(&err);
        g_usleep(50 * 1000);
    }
}

/* A sandbox's directory is made before its cgroup and removed before it,
 * so a cgroup without one is a leftover, not a sandbox being created. */
static gboolean sandbox_gone(const char *id, gpointer data)
{
    oc_context *ctx = data;
    g_autofree char *dir = image_sandbox_dir(ctx->state_dir, id);

    return !g_file_test(dir, G_FILE_TEST_EXISTS);
}

void core_network_prune(oc_context *ctx)
{
    guint removed = net_egress_prune(ctx->state_dir, sandbox_gone, ctx);
    if (removed)
        log_info("removed %u cgroup(s) of sandboxes that are gone", removed);
}
