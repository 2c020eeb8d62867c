/* build.h: template builds and imports (oc_template_build,
 * oc_template_import) for oc_native.c: one job per call, its log lines
 * reaching JS through a thread-safe function. */
#ifndef OC_NODE_BUILD_H
#define OC_NODE_BUILD_H

#include <node_api.h>

/* Defines templateBuild and templateImport on exports. */
napi_status build_define(napi_env env, napi_value exports);

#endif
