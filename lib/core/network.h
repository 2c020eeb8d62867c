/* network.h: a sandbox's egress policy (net/egress.h) around the starts of
 * its VM, changed at runtime, and removed with it.
 *
 * QEMU's sockets belong to the cgroup their thread was in when it made
 * them, so a VM under a policy starts paused, its QEMU process moves into
 * the policy's cgroup, and only then do its CPUs run.  A sandbox without a
 * policy starts as before. */
#ifndef OC_CORE_NETWORK_H
#define OC_CORE_NETWORK_H

#include <glib.h>
#include <libvirt/libvirt.h>

#include "core/context.h"
#include "core/sandbox.h"
#include "net/policy.h"
#include "virt/record.h"

/* Before any start of rec's domain: sets its policy up in its cgroup (names
 * resolved now).  *paused: whether to start the domain paused and call
 * core_network_after_start() once it is up. */
gboolean core_network_before_start(oc_context *ctx, const VirtRecord *rec, gboolean *paused,
                                   GError **error);
/* After a start: with paused, moves the domain's QEMU process into its
 * cgroup and resumes it.  If that fails, the domain is stopped (its guest
 * never ran outside the policy).  Without paused, nothing. */
gboolean core_network_after_start(oc_context *ctx, virDomainPtr dom, gboolean paused,
                                  GError **error);
/* Replaces the sandbox's policy (NULL or one that restricts nothing: none)
 * in its record and, running or not, in the kernel.  New connections
 * follow it at once; open ones stay. */
gboolean core_sandbox_set_network(oc_sandbox *sb, const NetPolicy *policy, GError **error);
/* Removes the sandbox's cgroup, if any, once its QEMU is gone (logs what
 * fails). */
void core_network_remove(oc_context *ctx, const char *id);
/* Removes the cgroups of the state directory's sandboxes that are gone. */
void core_network_prune(oc_context *ctx);

#endif
