/* context.h: the process's library context, for the Node binding.
 *
 * One context per process, opened on first use by a worker thread (opening
 * it talks to libvirt, so it must not run on the main thread) with the
 * options configure() set before. */
#ifndef OC_NODE_CONTEXT_H
#define OC_NODE_CONTEXT_H

#include <node_api.h>
#include <opencomputer.h>

/* A worker thread: a new reference on the context (unref it), opened on
 * first use. */
int context_get(oc_context **out, oc_error **error);

/* configure({poolSize, poolMemoryMB, poolTemplates, uri, stateDir}): the
 * options of the context, before it is opened; throws an Error with code
 * OC_ESTATE once it is.  Synchronous (it only stores them). */
napi_value js_configure(napi_env env, napi_callback_info info);

#endif
