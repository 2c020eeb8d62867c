/* overlay.h: a sandbox's disk is a qcow2 overlay on its template's disk. */
#ifndef OC_VIRT_OVERLAY_H
#define OC_VIRT_OVERLAY_H

#include <glib.h>

/* Creates path as a qcow2 image backed by backing (a qcow2 file). */
gboolean virt_overlay_create(const char *path, const char *backing, GError **error);

#endif
