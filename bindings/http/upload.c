/* upload.c: spooling upload bodies to disk. */
#include "upload.h"
#include "server.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

typedef struct {
    int fd;
    gint64 limit;
    gint64 seen;
    gboolean failed;
} Upload;

static void upload_free(gpointer data)
{
    Upload *u = data;

    if (u->fd >= 0)
        close(u->fd);
    g_free(u);
}

static void drop_connection(SoupServerMessage *msg, guint status)
{
    GSocket *sock = soup_server_message_get_socket(msg);

    http_log_request(msg, status);
    if (sock)
        g_socket_shutdown(sock, TRUE, TRUE, NULL);
}

static void got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
    Upload *u = data;
    gsize len;
    const char *p = g_bytes_get_data(chunk, &len);

    if (u->failed)
        return;
    u->seen += (gint64)len;
    if (u->seen > u->limit) {
        u->failed = TRUE;
        drop_connection(msg, 413);
        return;
    }
    /* a local file: short blocking writes on the HTTP thread are fine */
    while (len > 0) {
        ssize_t n = write(u->fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            u->failed = TRUE;
            g_printerr("oc-server: spooling an upload failed: %s\n", g_strerror(errno));
            drop_connection(msg, 500);
            return;
        }
        p += n;
        len -= (gsize)n;
    }
}

gboolean http_upload_begin(SoupServerMessage *msg, gint64 limit, GError **error)
{
    g_autofree char *name = NULL;
    Upload *u;
    int fd = g_file_open_tmp("oc-server-upload-XXXXXX", &name, error);

    if (fd < 0)
        return FALSE;
    g_unlink(name); /* nothing is left behind, whatever happens to us */
    u = g_new0(Upload, 1);
    u->fd = fd;
    u->limit = limit;
    g_object_set_data_full(G_OBJECT(msg), "oc-upload", u, upload_free);
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(got_chunk), u);
    return TRUE;
}

int http_upload_take_fd(SoupServerMessage *msg)
{
    Upload *u = g_object_get_data(G_OBJECT(msg), "oc-upload");
    int fd;

    if (!u || u->failed || u->fd < 0)
        return -1;
    fd = u->fd;
    u->fd = -1;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}
