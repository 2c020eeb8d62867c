/* tree.c: removing a directory tree (see tree.h). */
#include "util/tree.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

#include "util/error.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

gboolean tree_remove(const char *path, GError **error)
{
    /* FTW_PHYS: a symlink in the tree (an extracted root filesystem is full
     * of absolute ones) is removed, never followed. */
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot remove %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}
