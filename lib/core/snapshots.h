/* snapshots.h: templates' ready snapshots, for fast create. */
#ifndef OC_CORE_SNAPSHOTS_H
#define OC_CORE_SNAPSHOTS_H

#include "core/context.h"
#include "image/checkpoints.h"

/* The template's ready snapshot if it is fresh and was made with these
 * sizes, else NULL (create boots instead). */
ImageCheckpoint *core_template_snapshot_fresh(oc_context *ctx, const char *template_name,
                                              guint32 cpu_count, guint32 memory_mb);
/* Builds the template's ready snapshot unless a fresh one exists. */
gboolean core_template_prepare(oc_context *ctx, const char *template_name, gboolean *built,
                               GError **error);

#endif
