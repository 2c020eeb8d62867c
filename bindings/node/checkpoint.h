/* checkpoint.h: checkpoints, forks, template snapshots and the warm pool,
 * for oc_native.c: rows of table exports (job.h). */
#ifndef OC_NODE_CHECKPOINT_H
#define OC_NODE_CHECKPOINT_H

#include "job.h"

extern const export_spec checkpoint_exports[];
extern const size_t checkpoint_exports_count;

#endif
