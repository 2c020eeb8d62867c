/* import.h: a template from a root filesystem tarball (image/rootfs.h). */
#ifndef OC_CORE_IMPORT_H
#define OC_CORE_IMPORT_H

#include "core/build.h"

typedef struct {
    gboolean prepare;   /* also build its ready snapshot */
    CoreBuildLog log;   /* may be NULL */
    gpointer log_data;
} CoreImportOptions;

/* Makes template name, which must not exist, of the tarball's root
 * filesystem.  Its disk is made in a work directory under the state
 * directory (removed on every path, and by the next build or import if
 * this process dies), and the template appears whole or not at all.  When
 * its ready snapshot cannot be made, the template is removed again. */
gboolean core_template_import(oc_context *ctx, const char *name, const char *tarball,
                              const CoreImportOptions *opts, GError **error);

#endif
