/* oc-files.c: public entry points of the files API. */
#include <errno.h>
#include <unistd.h>

#include "core/sandbox.h"
#include "oc-private.h"

struct oc_file_info {
    AgentFileInfo *fi;
};

struct oc_file_list {
    GPtrArray *items; /* AgentFileInfo*, owned */
    oc_file_info *views; /* one oc_file_info per item */
};

/* Every call below is: check arguments, run one agent operation as a call
 * on the sandbox, convert the error. */
static int run_op(oc_sandbox *sb, const char *path, uint32_t flags, uint32_t allowed,
                  const char *func, CoreCallOp op, gpointer data, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(sb && path, "%s: sb and path must not be NULL", func);
    CHECK_ARG(path[0] == '/', "%s: path '%s' is relative; sandbox paths must be absolute", func, path);
    if (!oc_check_flags(flags, allowed, func, &err) || !core_call_run(sb, op, data, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

/* ---- read ---- */

typedef struct {
    const char *path;
    GByteArray *buf;
    int fd;
} ReadOp;

static gboolean sink_to_fd(const void *data, gsize len, gpointer user_data, GError **error)
{
    ReadOp *r = user_data;
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(r->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, OC_ERROR, OC_EIO, "cannot write to the host file descriptor: %s",
                        g_strerror(errno));
            return FALSE;
        }
        p += n;
        len -= n;
    }
    return TRUE;
}

static gboolean op_read(AgentConn *conn, gpointer data, GError **error)
{
    ReadOp *r = data;

    if (r->fd < 0)
        return agent_file_read_all(conn, r->path, OC_FILES_READ_MAX, &r->buf, error);
    return agent_file_read(conn, r->path, sink_to_fd, r, NULL, error);
}

OC_API int oc_files_read(oc_sandbox *sb, const char *path, void **data, size_t *len,
                         uint32_t flags, oc_error **error)
{
    ReadOp r = { .path = path, .fd = -1 };
    int rc;

    CHECK_ARG(data, "oc_files_read: data must not be NULL");
    rc = run_op(sb, path, flags, 0, "oc_files_read", op_read, &r, error);
    if (rc != OC_OK)
        return rc;
    if (len)
        *len = r.buf->len;
    g_byte_array_append(r.buf, (const guint8 *)"", 1);
    *data = g_byte_array_free(r.buf, FALSE);
    return OC_OK;
}

OC_API int oc_files_read_to_fd(oc_sandbox *sb, const char *path, int fd, uint32_t flags,
                               oc_error **error)
{
    ReadOp r = { .path = path, .fd = fd };

    CHECK_ARG(fd >= 0, "oc_files_read_to_fd: fd %d is not a file descriptor", fd);
    return run_op(sb, path, flags, 0, "oc_files_read_to_fd", op_read, &r, error);
}

/* ---- write ---- */

typedef struct {
    const char *path;
    const guint8 *data;
    gsize len, pos;
    int fd;
} WriteOp;

static gssize source_from_buffer(void *buf, gsize cap, gpointer user_data, GError **error)
{
    WriteOp *w = user_data;
    gsize n = MIN(cap, w->len - w->pos);
    memcpy(buf, w->data + w->pos, n);
    w->pos += n;
    return n;
}

static gssize source_from_fd(void *buf, gsize cap, gpointer user_data, GError **error)
{
    WriteOp *w = user_data;
    ssize_t n;

    do
        n = read(w->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read the host file descriptor: %s",
                    g_strerror(errno));
    return n;
}

static gboolean op_write(AgentConn *conn, gpointer data, GError **error)
{
    WriteOp *w = data;
    return agent_file_write(conn, w->path, 0644, w->fd < 0 ? source_from_buffer : source_from_fd,
                            w, NULL, error);
}

OC_API int oc_files_write(oc_sandbox *sb, const char *path, const void *data, size_t len,
                          uint32_t flags, oc_error **error)
{
    WriteOp w = { .path = path, .data = data, .len = len, .fd = -1 };

    CHECK_ARG(data || len == 0, "oc_files_write: data is NULL but len is %zu", len);
    return run_op(sb, path, flags, 0, "oc_files_write", op_write, &w, error);
}

OC_API int oc_files_write_from_fd(oc_sandbox *sb, const char *path, int fd, uint32_t flags,
                                  oc_error **error)
{
    WriteOp w = { .path = path, .fd = fd };

    CHECK_ARG(fd >= 0, "oc_files_write_from_fd: fd %d is not a file descriptor", fd);
    return run_op(sb, path, flags, 0, "oc_files_write_from_fd", op_write, &w, error);
}

/* ---- metadata operations ---- */

typedef struct {
    const char *path;
    const char *to;
    uint32_t flags;
    AgentFileInfo *info;
    GPtrArray *list;
} MetaOp;

static gboolean op_stat(AgentConn *conn, gpointer data, GError **error)
{
    MetaOp *m = data;
    return agent_file_stat(conn, m->path, &m->info, error);
}

static gboolean op_list(AgentConn *conn, gpointer data, GError **error)
{
    MetaOp *m = data;
    return agent_file_list(conn, m->path, &m->list, error);
}

static gboolean op_mkdir(AgentConn *conn, gpointer data, GError **error)
{
    MetaOp *m = data;
    return agent_file_mkdir(conn, m->path, 0755, TRUE, error);
}

static gboolean op_remove(AgentConn *conn, gpointer data, GError **error)
{
    MetaOp *m = data;
    return agent_file_remove(conn, m->path, (m->flags & OC_FILES_RECURSIVE) != 0, error);
}

static gboolean op_rename(AgentConn *conn, gpointer data, GError **error)
{
    MetaOp *m = data;
    return agent_file_rename(conn, m->path, m->to, error);
}

OC_API int oc_files_stat(oc_file_info **out, oc_sandbox *sb, const char *path, uint32_t flags,
                         oc_error **error)
{
    MetaOp m = { .path = path };
    int rc;

    CHECK_ARG(out, "oc_files_stat: out must not be NULL");
    rc = run_op(sb, path, flags, 0, "oc_files_stat", op_stat, &m, error);
    if (rc == OC_OK) {
        *out = g_new0(oc_file_info, 1);
        (*out)->fi = m.info;
    }
    return rc;
}

OC_API void oc_file_info_free(oc_file_info *fi)
{
    if (!fi)
        return;
    agent_file_info_free(fi->fi);
    g_free(fi);
}

/* Inside the op, so that only the agent's "no such file" means "no":
 * a missing sandbox still fails the call. */
static gboolean op_exists(AgentConn *conn, gpointer data, GError **error)
{
    MetaOp *m = data;
    GError *err = NULL;

    if (agent_file_stat(conn, m->path, &m->info, &err))
        return TRUE;
    if (g_error_matches(err, OC_ERROR, OC_ENOTFOUND)) {
        g_error_free(err);
        return TRUE;
    }
    g_propagate_error(error, err);
    return FALSE;
}

OC_API int oc_files_exists(oc_sandbox *sb, const char *path, int *out, uint32_t flags,
                           oc_error **error)
{
    MetaOp m = { .path = path };
    int rc;

    CHECK_ARG(out, "oc_files_exists: out must not be NULL");
    rc = run_op(sb, path, flags, 0, "oc_files_exists", op_exists, &m, error);
    if (rc == OC_OK)
        *out = m.info != NULL;
    agent_file_info_free(m.info);
    return rc;
}

OC_API int oc_files_list(oc_file_list **out, oc_sandbox *sb, const char *path, uint32_t flags,
                         oc_error **error)
{
    MetaOp m = { .path = path };
    oc_file_list *l;
    int rc;

    CHECK_ARG(out, "oc_files_list: out must not be NULL");
    rc = run_op(sb, path, flags, 0, "oc_files_list", op_list, &m, error);
    if (rc != OC_OK)
        return rc;
    l = g_new0(oc_file_list, 1);
    l->items = m.list;
    l->views = g_new0(oc_file_info, l->items->len);
    for (guint i = 0; i < l->items->len; i++)
        l->views[i].fi = l->items->pdata[i];
    *out = l;
    return OC_OK;
}

OC_API size_t oc_file_list_count(const oc_file_list *l) { return l ? l->items->len : 0; }
OC_API const oc_file_info *oc_file_list_at(const oc_file_list *l, size_t i)
{
    return l && i < l->items->len ? &l->views[i] : NULL;
}
OC_API void oc_file_list_free(oc_file_list *l)
{
    if (!l)
        return;
    g_ptr_array_unref(l->items);
    g_free(l->views);
    g_free(l);
}

OC_API const char *oc_file_info_name(const oc_file_info *f) { return f->fi->name; }
OC_API int oc_file_info_type(const oc_file_info *f) { return f->fi->type; }
OC_API uint64_t oc_file_info_size(const oc_file_info *f) { return f->fi->size; }
OC_API uint32_t oc_file_info_mode(const oc_file_info *f) { return f->fi->mode; }
OC_API int64_t oc_file_info_mtime_ns(const oc_file_info *f) { return f->fi->mtime_ns; }
OC_API const char *oc_file_info_link_target(const oc_file_info *f) { return f->fi->link_target; }

OC_API int oc_files_mkdir(oc_sandbox *sb, const char *path, uint32_t flags, oc_error **error)
{
    MetaOp m = { .path = path };
    return run_op(sb, path, flags, 0, "oc_files_mkdir", op_mkdir, &m, error);
}

OC_API int oc_files_remove(oc_sandbox *sb, const char *path, uint32_t flags, oc_error **error)
{
    MetaOp m = { .path = path, .flags = flags };
    return run_op(sb, path, flags, OC_FILES_RECURSIVE, "oc_files_remove", op_remove, &m, error);
}

OC_API int oc_files_rename(oc_sandbox *sb, const char *from, const char *to, uint32_t flags,
                           oc_error **error)
{
    MetaOp m = { .path = from, .to = to };

    CHECK_ARG(to && to[0] == '/', "oc_files_rename: the new path must be absolute");
    return run_op(sb, from, flags, 0, "oc_files_rename", op_rename, &m, error);
}
