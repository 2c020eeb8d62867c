/* activity.c: the idle clock of each sandbox.
 *
 * The clock is the mtime of sandboxes/ID/activity, so every process that
 * calls into a sandbox moves the same clock, and a reaper started later
 * still knows how long a sandbox has been idle.  Each call holds a shared
 * flock on the file for its whole duration and touches the file at both
 * ends: a call that runs for an hour is activity for that hour.  The reaper
 * takes the lock exclusively and without waiting, so it never hibernates a
 * sandbox under a call, and a call that begins while it hibernates waits,
 * then wakes the sandbox. */
#include "core/activity.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/store.h"
#include "util/log.h"

static char *activity_path(const char *state_dir, const char *id)
{
    g_autofree char *dir = image_sandbox_dir(state_dir, id);
    return g_build_filename(dir, "activity", NULL);
}

static int activity_open(const char *state_dir, const char *id, int flags)
{
    g_autofree char *path = activity_path(state_dir, id);
    int fd = open(path, O_RDWR | O_CLOEXEC | flags, 0600);

    if (fd < 0 && errno != ENOENT)
        log_warning("%s: cannot open %s: %s", id, path, g_strerror(errno));
    return fd;
}

int core_activity_begin(const char *state_dir, const char *id, gboolean *waited)
{
    int fd = activity_open(state_dir, id, O_CREAT);

    *waited = FALSE;
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
        *waited = TRUE;
        while (flock(fd, LOCK_SH) < 0 && errno == EINTR)
            ;
    }
    futimens(fd, NULL);
    return fd;
}

void core_activity_end(int fd)
{
    if (fd < 0)
        return;
    futimens(fd, NULL);
    close(fd); /* drops the lock */
}

void core_activity_touch(const char *state_dir, const char *id)
{
    int fd = activity_open(state_dir, id, O_CREAT);

    if (fd >= 0) {
        futimens(fd, NULL);
        close(fd);
    }
}

gint64 core_activity_deadline_us(const char *state_dir, const char *id, gint64 fallback_s,
                                 guint32 timeout_s)
{
    g_autofree char *path = activity_path(state_dir, id);
    struct stat st;
    gint64 last_us = fallback_s * G_USEC_PER_SEC;

    if (stat(path, &st) == 0)
        last_us = (gint64)st.st_mtim.tv_sec * G_USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;
    return last_us + (gint64)timeout_s * G_USEC_PER_SEC;
}

int core_activity_lock_idle(const char *state_dir, const char *id)
{
    int fd = activity_open(state_dir, id, O_CREAT);

    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}
