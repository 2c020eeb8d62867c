/* overlay.h: a sandbox's disk is a qcow2 overlay on its template's disk. */
#ifndef OC_VIRT_OVERLAY_H
#define OC_VIRT_OVERLAY_H

#include <glib.h>

/* Creates path (which must not exist) as a qcow2 v3 image with the virtual
 * size of backing, a qcow2 file it records by the name given.  Fails with
 * OC_ENOTFOUND when backing is missing, OC_EINVAL when it is not qcow2,
 * OC_EEXISTS when path exists; a failed create leaves no file behind. */
gboolean virt_overlay_create(const char *path, const char *backing, GError **error);

#endif
