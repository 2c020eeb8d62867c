/* lockfile.c: see lockfile.h. */
#include "util/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/error.h"

int lockfile_take(const char *path, GError **error)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        g_set_error(error, OC_ERROR, errno == ENOENT ? OC_ENOTFOUND : OC_EIO,
                    "cannot open %s: %s", path, g_strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            g_set_error(error, OC_ERROR, OC_EIO, "cannot lock %s: %s", path, g_strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

int lockfile_try(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

gboolean lockfile_is_held(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    gboolean held;

    if (fd < 0)
        return FALSE;
    held = flock(fd, LOCK_EX | LOCK_NB) < 0;
    close(fd);
    return held;
}
