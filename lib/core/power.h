/* power.h: hibernate and wake of a sandbox, and what the reaper does to an
 * idle one. */
#ifndef OC_CORE_POWER_H
#define OC_CORE_POWER_H

#include "core/sandbox.h"

/* Starts a transition of the sandbox (hibernate, wake, checkpoint,
 * restore): takes its power lock, which serialises them across processes.
 * The lock's descriptor (close it to release), or -1. */
int core_power_begin(oc_sandbox *sb, GError **error);
gboolean core_sandbox_hibernate(oc_sandbox *sb, GError **error);
/* timeout_s < 0 keeps the idle timeout.  *kind_out: an oc_wake_kind. */
gboolean core_sandbox_wake(oc_sandbox *sb, gint64 timeout_s, int *kind_out, GError **error);
/* Restarts the guest from its disk in a new QEMU process, soft (after a
 * sync in the guest; a running sandbox only) or hard (no sync; any state),
 * and returns once its agent answers. */
gboolean core_sandbox_reboot(oc_sandbox *sb, gboolean hard, GError **error);
/* Hibernates (or, failing that, stops) a running sandbox that has been idle
 * for timeout_s, unless a call is in flight.  TRUE if it did. */
gboolean core_sandbox_reap(oc_context *ctx, const char *id, guint32 timeout_s);

/* TRUE while a hibernate of the sandbox is (or may be) under way, in this
 * process or another, alive or dead.  A cheap check (one access()). */
gboolean core_power_hibernating(oc_context *ctx, const char *id);
/* Clears the mark once the sandbox is known to be running or hibernated. */
void core_power_clear_mark(oc_context *ctx, const char *id);

#endif
