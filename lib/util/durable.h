/* durable.h: making files and directory entries survive a crash (DESIGN.md
 * #8: a state change is reported only after what backs it is on disk). */
#ifndef OC_UTIL_DURABLE_H
#define OC_UTIL_DURABLE_H

#include <glib.h>

/* fsyncs a file or a directory.  OC_ENOTFOUND if it does not exist. */
gboolean durable_sync(const char *path, GError **error);
/* fsyncs the directory holding path (after creating, renaming or linking
 * an entry in it). */
gboolean durable_sync_parent(const char *path, GError **error);
/* Writes contents to path atomically: a temporary file, fsync, rename,
 * fsync of the directory. */
gboolean durable_write(const char *path, const char *contents, gsize len, GError **error);

#endif
