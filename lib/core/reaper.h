/* reaper.h: the idle reaper thread. */
#ifndef OC_CORE_REAPER_H
#define OC_CORE_REAPER_H

#include "core/context.h"

struct oc_reaper {
    oc_context *ctx;
    GThread *thread;
    GMutex lock;
    GCond cond;
    gboolean stop;     /* guarded by lock */
    int lock_fd;       /* the host's reaper.lock, once held; only the thread uses it */
    gint active;       /* atomic: lock_fd is held */
};

oc_reaper *core_reaper_start(oc_context *ctx, GError **error);
void core_reaper_stop(oc_reaper *r);

#endif
