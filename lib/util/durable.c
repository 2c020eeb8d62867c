/* durable.c: fsync of files and directories, and atomic durable writes. */
#include "util/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "util/error.h"

gboolean durable_sync(const char *path, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        g_set_error(error, OC_ERROR, e == ENOENT ? OC_ENOTFOUND : OC_EIO, "cannot sync %s: %s",
                    path, g_strerror(e));
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    close(fd);
    return TRUE;
}

gboolean durable_sync_parent(const char *path, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    return durable_sync(dir, error);
}

gboolean durable_write(const char *path, const char *contents, gsize len, GError **error)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    gsize done = 0;

    if (fd < 0)
        goto fail;
    while (done < len) {
        ssize_t n = write(fd, contents + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        done += n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    return durable_sync_parent(path, error);

fail:
    g_set_error(error, OC_ERROR, OC_EIO, "cannot write %s: %s", path, g_strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return FALSE;
}
