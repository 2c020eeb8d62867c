/* template.h: templates (list, get, delete) for oc_native.c: rows of table
 * exports (job.h); build.c resolves with done_template. */
#ifndef OC_NODE_TEMPLATE_H
#define OC_NODE_TEMPLATE_H

#include "job.h"

extern const export_spec template_exports[];
extern const size_t template_exports_count;

/* The info of j->tmpl */
napi_status done_template(napi_env env, job *j, napi_value *out);

#endif
