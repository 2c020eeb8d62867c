/* templates.h: managing templates: removing one that nothing uses. */
#ifndef OC_CORE_TEMPLATES_H
#define OC_CORE_TEMPLATES_H

#include "core/context.h"

/* Deletes the template, its disk versions and its ready snapshot.  Refused
 * (OC_ESTATE, naming them) while sandboxes, checkpoints or other templates
 * build on its disk.  When its unclaimed warm pool sandboxes are the only
 * users, they are killed with it. */
gboolean core_template_delete(oc_context *ctx, const char *name, GError **error);

#endif
