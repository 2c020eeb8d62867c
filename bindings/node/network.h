/* network.h: a sandbox's egress policy for the Node binding: the
 * {allowOut, denyOut, blockAll} object copied into a job (ARG_NETWORK),
 * setNetwork, and the policy as info reports it. */
#ifndef OC_NODE_NETWORK_H
#define OC_NODE_NETWORK_H

#include "job.h"

/* Copies v, an object {allowOut?: string[], denyOut?: string[],
 * blockAll?: boolean} or nullish, into *out. */
napi_status get_network(napi_env env, napi_value v, job_network *out);
void job_network_clear(job_network *net);
/* NULL when not given, else policy filled from net. */
const oc_network_policy *network_policy(const job_network *net, oc_network_policy *policy);

/* Sets obj.network to {allowOut, denyOut, blockAll} from info. */
napi_status set_network_value(napi_env env, napi_value obj, const oc_sandbox_info *info);

/* setNetwork, rows of table exports (job.h) for oc_native.c. */
extern const export_spec network_exports[];
extern const size_t network_exports_count;

#endif
