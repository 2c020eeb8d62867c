/* build.h: template builds (oc_template_build) for oc_native.c: one job per
 * build, its log lines reaching JS through a thread-safe function. */
#ifndef OC_NODE_BUILD_H
#define OC_NODE_BUILD_H

#include <node_api.h>

/* Defines templateBuild on exports. */
napi_status build_define(napi_env env, napi_value exports);

#endif
