/* fileops.c: the one-shot file operations (STAT, MKDIR, REMOVE, RENAME)
 * and the argument parsing and entry encoding all file operations share. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Deeper trees than this are refused rather than risking the fd limit. */
#define REMOVE_MAX_DEPTH 256

void fail_errno(agent_stream *s, int err, const char *what, const char *path)
{
    stream_error(s, agent_errno_code(err), "%s %.1000s: %s", what, path, strerror(err));
    stream_free(s, 1);
}

int file_args_read(agent_stream *s, const uint8_t *p, size_t len, unsigned allowed,
                   file_args *a)
{
    agent_fail f;
    if (file_args_parse(p, len, allowed, a, &f) == 0)
        return 0;
    stream_fail(s, &f);
    stream_free(s, 1);
    return -1;
}

static uint8_t ftype_of(mode_t m)
{
    if (S_ISREG(m)) return OC_FTYPE_FILE;
    if (S_ISDIR(m)) return OC_FTYPE_DIR;
    if (S_ISLNK(m)) return OC_FTYPE_SYMLINK;
    return OC_FTYPE_OTHER;
}

int file_entry_fields(oc_proto_writer *w, int dirfd, const char *name, const char *shown)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    oc_proto_put_str(w, OC_F_NAME, shown);
    oc_proto_put_u8(w, OC_F_FTYPE, ftype_of(st.st_mode));
    oc_proto_put_u64(w, OC_F_SIZE, (uint64_t)st.st_size);
    oc_proto_put_u32(w, OC_F_MODE, (uint32_t)(st.st_mode & 07777));
    oc_proto_put_u64(w, OC_F_MTIME_NS,
                     (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
    if (S_ISLNK(st.st_mode)) {
        char target[OC_PROTO_MAX_PATH];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target);
        if (n >= 0 && (size_t)n < sizeof target)
            oc_proto_put_bytes(w, OC_F_LINK_TARGET, target, (size_t)n);
    }
    return 0;
}

static void result_empty(agent_stream *s)
{
    stream_send(s, OC_T_RESULT, 0, NULL, 0);
    stream_free(s, 0);
}

/* ---- STAT ---- */

void fileop_stat(agent_stream *s, const uint8_t *p, size_t len)
{
    file_args a;
    if (file_args_read(s, p, len, FA_PATH, &a) < 0)
        return;
    /* NAME is the basename; trailing slashes do not count, "/" is "/". */
    char base[OC_PROTO_MAX_PATH];
    size_t n = strlen(a.path);
    while (n > 1 && a.path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && a.path[b - 1] != '/')
        b--;
    if (b == n)
        snprintf(base, sizeof base, "/");
    else
        snprintf(base, sizeof base, "%.*s", (int)(n - b), a.path + b);

    uint8_t buf[OC_PROTO_MAX_PATH * 2 + 256];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    if (file_entry_fields(&w, AT_FDCWD, a.path, base) < 0) {
        fail_errno(s, errno, "stat", a.path);
        return;
    }
    stream_send(s, OC_T_RESULT, 0, buf, (uint32_t)w.len);
    stream_free(s, 0);
}

/* ---- MKDIR ---- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void fileop_mkdir(agent_stream *s, const uint8_t *p, size_t len)
{
    file_args a;
    if (file_args_read(s, p, len, FA_PATH | FA_MODE | FA_PARENTS, &a) < 0)
        return;
    mode_t mode = a.has_mode ? (a.mode & 07777) : 0755;
    if (a.parents) {
        /* Like mkdir -p: intermediate directories get 0755, the last MODE. */
        char *c = a.path;
        while (*c == '/')
            c++;
        for (; (c = strchr(c, '/')); c++) {
            *c = '\0';
            if (mkdir(a.path, 0755) < 0 && errno != EEXIST) {
                int err = errno;
                *c = '/';
                fail_errno(s, err, "mkdir", a.path);
                return;
            }
            *c = '/';
            while (c[1] == '/')
                c++;
        }
    }
    if (mkdir(a.path, mode) < 0) {
        int err = errno;
        if (err == EEXIST && a.parents && is_dir(a.path)) {
            result_empty(s);
            return;
        }
        fail_errno(s, err, "mkdir", a.path);
        return;
    }
    /* mkdir(2) applied the umask; MODE is what the host asked for. */
    chmod(a.path, mode);
    result_empty(s);
}

/* ---- REMOVE ---- */

/* Empties the directory `name` under dirfd, never following a symlink:
 * entries are opened with O_NOFOLLOW and unlinked by name. */
static int remove_tree(int dirfd, const char *name, int depth)
{
    if (depth > REMOVE_MAX_DEPTH) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int err = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            dir = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        }
        if (dir) {
            if (remove_tree(fd, de->d_name, depth + 1) < 0 ||
                unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0) {
                if (!err)
                    err = errno;
            }
        } else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT && !err) {
            err = errno;
        }
    }
    closedir(d);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

static void remove_tree_forked(agent_stream *s, const char *path);

void fileop_remove(agent_stream *s, const uint8_t *p, size_t len)
{
    file_args a;
    if (file_args_read(s, p, len, FA_PATH | FA_RECURSIVE, &a) < 0)
        return;
    if (strspn(a.path, "/") == strlen(a.path)) {
        stream_error(s, OC_PERR_INVAL, "refusing to remove /");
        stream_free(s, 1);
        return;
    }
    struct stat st;
    if (lstat(a.path, &st) < 0) {
        fail_errno(s, errno, "remove", a.path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(a.path) < 0)
            fail_errno(s, errno, "remove", a.path);
        else
            result_empty(s);
        return;
    }
    if (a.recursive) {
        remove_tree_forked(s, a.path);
        return;
    }
    if (rmdir(a.path) < 0) {
        fail_errno(s, errno == EEXIST ? ENOTEMPTY : errno, "remove", a.path);
        return;
    }
    result_empty(s);
}

/* The removal of a directory and what it holds, or the errno that ended it. */
static int remove_dir(const char *path)
{
    if (remove_tree(AT_FDCWD, path, 0) < 0)
        return errno;
    if (rmdir(path) < 0)
        return errno == EEXIST ? ENOTEMPTY : errno;
    return 0;
}

/* A tree of many files takes seconds to remove (more under TCG), and the
 * loop would answer nothing else meanwhile: a child removes it, and its
 * exit (the errno, 0 for done) answers the stream (fileop_remove_exited).
 * If no child can be made, the loop does it. */
static void remove_tree_forked(agent_stream *s, const char *path)
{
    pid_t pid = fork();

    if (pid == 0)
        _exit(remove_dir(path) & 0xff);
    if (pid < 0) {
        int err = remove_dir(path);
        if (err)
            fail_errno(s, err, "remove", path);
        else
            result_empty(s);
        return;
    }
    s->pid = pid;
    s->path = strdup(path);
}

void fileop_remove_exited(agent_stream *s, int status)
{
    int err = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;

    s->pid = 0;
    if (err)
        fail_errno(s, err, "remove", s->path ? s->path : "(the path)");
    else
        result_empty(s);
}

/* ---- RENAME ---- */

void fileop_rename(agent_stream *s, const uint8_t *p, size_t len)
{
    file_args a;
    if (file_args_read(s, p, len, FA_PATH | FA_NEW_PATH, &a) < 0)
        return;
    if (rename(a.path, a.new_path) < 0) {
        int err = errno;
        stream_error(s, agent_errno_code(err), "rename %.1000s to %.1000s: %s", a.path,
                     a.new_path, strerror(err));
        stream_free(s, 1);
        return;
    }
    result_empty(s);
}
