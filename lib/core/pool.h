/* pool.h: the warm pool: sandboxes made ahead, claimed by create.
 *
 *   STATE/pool/TEMPLATE/ID   a ready, unclaimed member; removing the file
 *                            claims it (unlink succeeds for one caller)
 *
 * Members are sandboxes with the default sizes, marked pool in their record
 * (hidden from lists and connect).  A context with a pool runs a thread that
 * keeps pool_size members per pooled template, within a memory budget,
 * through a libvirt connection and context of its own: the members it makes
 * never hold the caller's context. */
#ifndef OC_CORE_POOL_H
#define OC_CORE_POOL_H

#include "core/sandbox.h"

typedef struct _CorePool CorePool;

/* Claims a member for want (its template, sizes, envs, metadata, timeout,
 * created), or NULL if none is ready. */
oc_sandbox *core_pool_claim(oc_context *ctx, const VirtRecord *want);
/* Claims and kills the template's unclaimed members; how many. */
guint core_pool_drain(oc_context *ctx, const char *template_name);
/* Unclaimed members of the template on this host. */
guint core_pool_ready(const char *state_dir, const char *template_name);

CorePool *core_pool_start(oc_context *ctx, guint size, guint memory_mb,
                          const char *const *templates, GError **error);
/* Stops the thread and kills the unclaimed members this pool made. */
void core_pool_stop(CorePool *pool);
/* How many members the pool keeps for the template (0: not pooled). */
guint core_pool_target(CorePool *pool, const char *template_name);

#endif
