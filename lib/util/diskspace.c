/* diskspace.c: telling a user that a host filesystem is full. */
#include "util/diskspace.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "opencomputer.h"
#include "util/error.h"

void diskspace_explain(GError **error, const char *dir, guint64 need_bytes)
{
    struct statvfs st;
    guint64 avail;
    char *msg;

    if (!error || !*error)
        return;
    if (strstr((*error)->message, g_strerror(ENOSPC))) {
        (*error)->domain = OC_ERROR;
        (*error)->code = OC_ELIMIT;
    }
    if (statvfs(dir, &st) < 0)
        return;
    avail = (guint64)st.f_bavail * st.f_frsize;
    if (avail >= need_bytes)
        return;
    msg = g_strdup_printf("%s (the filesystem of %s has %" G_GUINT64_FORMAT " MiB free, and this "
                          "may need up to %" G_GUINT64_FORMAT " MiB: free space there and try "
                          "again)", (*error)->message, dir, avail >> 20,
                          (need_bytes + (1 << 20) - 1) >> 20);
    g_free((*error)->message);
    (*error)->message = msg;
}
