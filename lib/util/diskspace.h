/* diskspace.h: telling a user that a host filesystem is full.  A save or
 * snapshot that runs out of space fails in QEMU's migration stream, and
 * libvirt's message for that seldom names the cause. */
#ifndef OC_UTIL_DISKSPACE_H
#define OC_UTIL_DISKSPACE_H

#include <glib.h>

/* For a failed write of up to need_bytes into dir: makes *error (when set)
 * OC_ELIMIT if its message names ENOSPC, and if the filesystem has less
 * than need_bytes free, appends how much it has and what to do. */
void diskspace_explain(GError **error, const char *dir, guint64 need_bytes);

#endif
