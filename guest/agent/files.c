/* files.c: the streaming file operations: FILE_READ, FILE_WRITE and
 * FILE_LIST.  Regular files and directories are always "ready", so these are
 * not polled: the loop pumps them while they have credit and queue room. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_CAP (64 * 1024)
/* Largest record: NAME (255) + LINK_TARGET (4096) + fixed fields. */
#define REC_MAX (OC_PROTO_MAX_PATH + 512)

/* A frame whose payload is one SIZE field (RESULT, INFO). */
static void send_size(agent_stream *s, uint8_t type, uint64_t size)
{
    uint8_t buf[32];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u64(&w, OC_F_SIZE, size);
    stream_send(s, type, 0, buf, (uint32_t)w.len);
}

static void send_size_result(agent_stream *s)
{
    send_size(s, OC_T_RESULT, s->size);
}

/* ---- FILE_READ ---- */

void file_read_open(agent_stream *s, const uint8_t *p, size_t len)
{
    file_args a;
    if (file_args_read(s, p, len, FA_PATH, &a) < 0)
        return;
    /* O_NONBLOCK so that opening a FIFO cannot hang the agent. */
    int fd = open(a.path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        fail_errno(s, errno, "read", a.path);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int dir = S_ISDIR(st.st_mode);
        close(fd);
        stream_error(s, dir ? OC_PERR_ISDIR : OC_PERR_INVAL, "read %.1000s: %s", a.path,
                     dir ? "is a directory" : "not a regular file");
        stream_free(s, 1);
        return;
    }
    s->fd = fd;
    /* v2: the size up front lets the host size its buffer once. */
    if (s->conn->version >= 2)
        send_size(s, OC_T_INFO, (uint64_t)st.st_size);
}

static int read_pump(agent_stream *s)
{
    for (int k = 0; k < 8; k++) {
        size_t max = stream_sendable(s, OC_CHAN_OUT);
        if (!max)
            return 0;
        ssize_t n = send_data_from_fd(s, OC_CHAN_OUT, s->fd, max);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return 1;
            stream_error(s, agent_errno_code(errno), "read failed after %llu bytes: %s",
                         (unsigned long long)s->size, strerror(errno));
            stream_free(s, 1);
            return 0;
        }
        if (n == 0) {
            stream_send(s, OC_T_EOF, OC_CHAN_OUT, NULL, 0);
            send_size_result(s);
            stream_free(s, 0);
            return 0;
        }
        s->size += (uint64_t)n;
    }
    return 1;
}

/* ---- FILE_WRITE ---- */

void file_write_open(agent_stream *s, const uint8_t *p, size_t len)
{
    file_args a;
    if (file_args_read(s, p, len, FA_PATH | FA_MODE, &a) < 0)
        return;
    s->mode = a.has_mode ? (a.mode & 07777) : 0644;

    char *slash = strrchr(a.path, '/');
    const char *base = slash ? slash + 1 : a.path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
        stream_error(s, OC_PERR_INVAL, "write %.1000s: not a file name", a.path);
        stream_free(s, 1);
        return;
    }
    struct stat st;
    if (stat(a.path, &st) == 0 && S_ISDIR(st.st_mode)) {
        stream_error(s, OC_PERR_ISDIR, "write %.1000s: is a directory", a.path);
        stream_free(s, 1);
        return;
    }
    /* The temporary file lives next to the target so that the final
     * rename is atomic; its name is cut to stay under NAME_MAX. */
    char tmp[OC_PROTO_MAX_PATH + 64];
    int dirlen = slash ? (int)(slash - a.path) + 1 : 0;
    snprintf(tmp, sizeof tmp, "%.*s.%.200s.oc-tmp-XXXXXX", dirlen, a.path, base);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        fail_errno(s, errno, "write", a.path);
        return;
    }
    s->fd = fd;
    s->path = strdup(a.path);
    s->tmp_path = strdup(tmp);
    if (!s->path || !s->tmp_path) {
        stream_error(s, OC_PERR_LIMIT, "write %.1000s: out of memory", a.path);
        if (!s->tmp_path)
            unlink(tmp);
        stream_free(s, 1);
    }
}

void file_write_data(agent_stream *s, const uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(s->fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_errno(s, errno, "write", s->path);
            return;
        }
        done += (size_t)n;
    }
    s->size += len;
    stream_consumed(s, len);
}

void file_write_eof(agent_stream *s)
{
    s->in_eof = 1;
    /* fchmod, not the umask-filtered create mode: MODE is what the host
     * asked for. */
    if (fchmod(s->fd, s->mode) < 0) {
        fail_errno(s, errno, "write", s->path);
        return;
    }
    int fd = s->fd;
    s->fd = -1;
    if (close(fd) < 0) {
        fail_errno(s, errno, "write", s->path);
        return;
    }
    if (rename(s->tmp_path, s->path) < 0) {
        fail_errno(s, errno, "write", s->path);
        return;
    }
    free(s->tmp_path);
    s->tmp_path = NULL;
    send_size_result(s);
    stream_free(s, 0);
}

/* ---- FILE_LIST ---- */

void file_list_open(agent_stream *s, const uint8_t *p, size_t len)
{
    file_args a;
    if (file_args_read(s, p, len, FA_PATH, &a) < 0)
        return;
    s->dir = opendir(a.path);
    if (!s->dir) {
        fail_errno(s, errno, "list", a.path);
        return;
    }
    s->rec = malloc(REC_CAP);
    if (!s->rec) {
        stream_error(s, OC_PERR_LIMIT, "list %.1000s: out of memory", a.path);
        stream_free(s, 1);
    }
}

/* Fills the record buffer from readdir; closes the directory at its end. */
static int list_refill(agent_stream *s)
{
    s->rec_off = s->rec_len = 0;
    while (s->rec_len + REC_MAX < REC_CAP) {
        errno = 0;
        struct dirent *de = readdir(s->dir);
        if (!de) {
            if (errno) {
                stream_error(s, agent_errno_code(errno), "list: readdir: %s", strerror(errno));
                stream_free(s, 1);
                return -1;
            }
            closedir(s->dir);
            s->dir = NULL;
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        oc_proto_writer w;
        oc_proto_writer_init(&w, s->rec + s->rec_len + 4, REC_CAP - s->rec_len - 4);
        if (file_entry_fields(&w, dirfd(s->dir), de->d_name, de->d_name) < 0 || w.overflow)
            continue; /* removed while we listed it */
        uint8_t *lp = s->rec + s->rec_len;
        for (int i = 0; i < 4; i++)
            lp[i] = (uint8_t)(w.len >> (8 * i));
        s->rec_len += 4 + w.len;
        s->size++;
    }
    return 0;
}

static int list_pump(agent_stream *s)
{
    for (;;) {
        if (s->rec_off < s->rec_len) {
            size_t max = stream_sendable(s, OC_CHAN_OUT);
            if (!max)
                return 0;
            size_t n = s->rec_len - s->rec_off;
            if (n > max)
                n = max;
            send_data(s, OC_CHAN_OUT, s->rec + s->rec_off, n);
            s->rec_off += n;
            continue;
        }
        if (!s->dir) {
            stream_send(s, OC_T_EOF, OC_CHAN_OUT, NULL, 0);
            stream_send(s, OC_T_RESULT, 0, NULL, 0);
            stream_free(s, 0);
            return 0;
        }
        if (list_refill(s) < 0)
            return 0;
    }
}

/* ---- common ---- */

int file_pump(agent_stream *s)
{
    if (s->op == OC_OP_FILE_READ && s->fd >= 0)
        return read_pump(s);
    /* SESSION_LIST builds all its records at once and sends them here. */
    if ((s->op == OC_OP_FILE_LIST || s->op == OC_OP_SESSION_LIST) && s->rec)
        return list_pump(s);
    return 0;
}

void file_cancel(agent_stream *s)
{
    stream_error(s, OC_PERR_IO, "%s cancelled",
                 s->op == OC_OP_FILE_WRITE ? "write" : s->op == OC_OP_FILE_READ ? "read"
                 : s->op == OC_OP_FILE_REMOVE ? "remove" : "list");
    stream_free(s, 1);
}

void file_release(agent_stream *s)
{
    if (s->op == OC_OP_FILE_REMOVE && s->pid > 0)
        kill(s->pid, SIGKILL); /* a removal cancelled (or its host gone) stops */
    if (s->fd >= 0)
        close(s->fd);
    if (s->tmp_path)
        unlink(s->tmp_path);
    free(s->tmp_path);
    free(s->path);
    if (s->dir)
        closedir(s->dir);
    free(s->rec);
}
