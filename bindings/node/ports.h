/* ports.h: guest ports reached from the host (exposePort, unexposePort) for
 * oc_native.c: rows of table exports (job.h). */
#ifndef OC_NODE_PORTS_H
#define OC_NODE_PORTS_H

#include "job.h"

extern const export_spec port_exports[];
extern const size_t port_exports_count;

#endif
