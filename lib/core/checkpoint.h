/* checkpoint.h: checkpoints of sandboxes, restore in place, and forks
 * (DESIGN.md #6). */
#ifndef OC_CORE_CHECKPOINT_H
#define OC_CORE_CHECKPOINT_H

#include "core/sandbox.h"
#include "image/checkpoints.h"

/* Checkpoints a sandbox (waking it if hibernated); name is a label. */
ImageCheckpoint *core_checkpoint_create(oc_sandbox *sb, const char *name, GError **error);
/* Freezes the running sandbox into cp->dir (memory.save, disk.qcow2) and
 * moves it onto a new overlay; fills cp's sizes.  The caller holds the
 * sandbox's power lock and cp->dir's create lock. */
gboolean core_checkpoint_take(oc_sandbox *sb, ImageCheckpoint *cp, GError **error);
/* Reverts the sandbox in place to the checkpoint. */
gboolean core_sandbox_restore(oc_sandbox *sb, const char *checkpoint_id, GError **error);
/* count sandboxes resuming from cp; spec gives envs, metadata and timeout
 * (its template and sizes are the checkpoint's).  All or none. */
GPtrArray *core_sandbox_fork(oc_context *ctx, const ImageCheckpoint *cp, const char *origin,
                             const CoreCreateSpec *spec, guint count, GError **error);

#endif
