/* lockfile.h: flock()ed files, the library's cross-process locks.  A lock
 * dies with its process, so nothing stays locked after a crash. */
#ifndef OC_UTIL_LOCKFILE_H
#define OC_UTIL_LOCKFILE_H

#include <glib.h>

/* Opens (creating) path and takes an exclusive lock on it, waiting: the
 * descriptor (close it to release), or -1 with error. */
int lockfile_take(const char *path, GError **error);
/* Takes the lock on an existing path if nobody holds it: the descriptor,
 * or -1 (held, or no such file). */
int lockfile_try(const char *path);
/* TRUE if another open file description holds a lock on path. */
gboolean lockfile_is_held(const char *path);

#endif
