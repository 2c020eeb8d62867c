/* saveimage.c: parsing libvirt save image heads, and restoring a domain
 * from an image made of another (see saveimage.h). */
#include "virt/saveimage.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "virt/domain.h"

#define SAVE_MAGIC "LibvirtQemudSave"
#define SAVE_PARTIAL "LibvirtQemudPart"
#define MAGIC_LEN 16
/* QEMU's own stream starts with this (big-endian "QEVM"). */
#define QEMU_STREAM_MAGIC "QEVM"
/* Bytes the feeder moves per step; it looks for cancellation between. */
#define FEED_CHUNK (1u << 20)

void virt_save_image_free(VirtSaveImage *img)
{
    if (!img)
        return;
    g_free(img->xml);
    g_free(img->cookie);
    g_free(img);
}

static guint32 get_u32(const guint8 *p)
{
    /* libvirt writes the header in host order; images are x86-64 only. */
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static void put_u32(guint8 *p, guint32 v)
{
    p[0] = v & 0xff;
    p[1] = (v >> 8) & 0xff;
    p[2] = (v >> 16) & 0xff;
    p[3] = v >> 24;
}

/* The NUL-terminated string at [from, to) of data, or NULL. */
static char *string_in(const guint8 *data, gsize from, gsize to)
{
    const guint8 *nul = memchr(data + from, 0, to - from);
    return nul && nul > data + from ? g_strndup((const char *)data + from, nul - data - from)
                                    : NULL;
}

VirtSaveImage *virt_save_image_parse(const guint8 *buf, gsize len, gsize *need, GError **error)
{
    guint32 version, data_len, format, cookie_offset;
    const guint8 *data;
    g_autoptr(VirtSaveImage) img = NULL;

    *need = VIRT_SAVE_HEADER_SIZE;
    if (len < VIRT_SAVE_HEADER_SIZE)
        return NULL;
    if (memcmp(buf, SAVE_PARTIAL, MAGIC_LEN) == 0) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "the save image is incomplete: the save that "
                    "wrote it did not finish");
        return NULL;
    }
    if (memcmp(buf, SAVE_MAGIC, MAGIC_LEN) != 0) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "not a libvirt QEMU save image (bad magic)");
        return NULL;
    }
    version = get_u32(buf + 16);
    data_len = get_u32(buf + 20);
    format = get_u32(buf + 28);
    cookie_offset = version >= 2 ? get_u32(buf + 32) : 0;
    if (version < 1 || version > 2) {
        g_set_error(error, OC_ERROR, OC_EUNSUPPORTED,
                    "save image version %u is not supported (1 and 2 are)", version);
        return NULL;
    }
    if (format != 0) {
        g_set_error(error, OC_ERROR, OC_EUNSUPPORTED, "the save image is compressed (format %u); "
                    "only raw images can be forked", format);
        return NULL;
    }
    if (data_len == 0 || data_len > VIRT_SAVE_MAX_DATA || cookie_offset >= data_len) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "the save image is damaged: data length %u, "
                    "cookie offset %u", data_len, cookie_offset);
        return NULL;
    }
    *need = VIRT_SAVE_HEADER_SIZE + (gsize)data_len;
    if (len < *need)
        return NULL;
    data = buf + VIRT_SAVE_HEADER_SIZE;
    img = g_new0(VirtSaveImage, 1);
    img->version = version;
    img->data_len = data_len;
    img->stream_offset = *need;
    img->xml = string_in(data, 0, cookie_offset ? cookie_offset : data_len);
    if (cookie_offset)
        img->cookie = string_in(data, cookie_offset, data_len);
    if (!img->xml || (cookie_offset && !img->cookie)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "the save image is damaged: its %s is not a "
                    "terminated string", img->xml ? "cookie" : "domain XML");
        return NULL;
    }
    if (len >= *need + 4 && memcmp(buf + *need, QEMU_STREAM_MAGIC, 4) != 0) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "the save image is damaged: no QEMU stream "
                    "after its header");
        return NULL;
    }
    return g_steal_pointer(&img);
}

static int open_image(const char *path, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        g_set_error(error, OC_ERROR, errno == ENOENT ? OC_ENOTFOUND : OC_EIO,
                    "cannot open save image %s: %s", path, g_strerror(errno));
    return fd;
}

/* Reads and parses the head of the image open on fd (named path). */
static VirtSaveImage *read_head(int fd, const char *path, GError **error)
{
    g_autofree guint8 *buf = NULL;
    gsize have = 0, need = VIRT_SAVE_HEADER_SIZE;
    VirtSaveImage *img = NULL;
    GError *err = NULL;

    for (;;) {
        gsize want = need + 4; /* with the stream's magic */
        buf = g_realloc(buf, want);
        while (have < want) {
            ssize_t n = pread(fd, buf + have, want - have, have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            have += n;
        }
        img = virt_save_image_parse(buf, have, &need, &err);
        if (img || err || have < want || need + 4 <= have)
            break; /* parsed, damaged, or at the end of the file */
    }
    if (!img) {
        if (!err)
            g_set_error(&err, OC_ERROR, OC_EINVAL, "the save image is truncated");
        g_propagate_prefixed_error(error, err, "%s: ", path);
    }
    return img;
}

VirtSaveImage *virt_save_image_read(const char *path, GError **error)
{
    int fd = open_image(path, error);
    VirtSaveImage *img = fd >= 0 ? read_head(fd, path, error) : NULL;

    if (fd >= 0)
        close(fd);
    return img;
}

gboolean virt_save_image_has_nic(const char *path)
{
    g_autoptr(VirtSaveImage) img = virt_save_image_read(path, NULL);

    /* Text in the XML (metadata) is escaped, so only an element matches. */
    return !img || strstr(img->xml, "<interface ") != NULL;
}

GBytes *virt_save_image_head(const VirtSaveImage *img, const char *xml)
{
    gsize xml_len = strlen(xml) + 1;
    gsize cookie_len = img->cookie ? strlen(img->cookie) + 1 : 0;
    GByteArray *out = g_byte_array_sized_new(VIRT_SAVE_HEADER_SIZE + xml_len + cookie_len);
    guint8 header[VIRT_SAVE_HEADER_SIZE] = { 0 };

    memcpy(header, SAVE_MAGIC, MAGIC_LEN);
    put_u32(header + 16, 2);                                 /* version */
    put_u32(header + 20, (guint32)(xml_len + cookie_len));   /* data_len */
    put_u32(header + 24, 1);                                 /* was_running */
    put_u32(header + 28, 0);                                 /* raw */
    put_u32(header + 32, img->cookie ? (guint32)xml_len : 0); /* cookie offset */
    g_byte_array_append(out, header, sizeof header);
    g_byte_array_append(out, (const guint8 *)xml, xml_len);
    if (img->cookie)
        g_byte_array_append(out, (const guint8 *)img->cookie, cookie_len);
    return g_byte_array_free_to_bytes(out);
}

typedef struct {
    char *fifo;
    GBytes *head;
    int image_fd;
    guint64 offset, end;
    gint cancelled;
    gint done;
} Feeder;

static gboolean write_all(int fd, const guint8 *p, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        p += n;
        len -= n;
    }
    return TRUE;
}

/* Writes the new head, then the image's stream, into the FIFO as libvirt
 * reads it.  A reader that goes away (libvirt refused the image) ends it
 * with EPIPE: SIGPIPE is blocked in this thread, and a thread-directed
 * signal still pending when the thread ends is discarded. */
static gpointer feed_thread(gpointer data)
{
    Feeder *f = data;
    sigset_t set;
    gsize head_len;
    const guint8 *head = g_bytes_get_data(f->head, &head_len);
    int fd;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    fd = open(f->fifo, O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && !g_atomic_int_get(&f->cancelled)) {
        fcntl(fd, F_SETPIPE_SZ, (int)FEED_CHUNK); /* fewer wake-ups; best effort */
        if (write_all(fd, head, head_len)) {
            while (f->offset < f->end && !g_atomic_int_get(&f->cancelled)) {
                off_t off = (off_t)f->offset;
                ssize_t n = sendfile(fd, f->image_fd, &off, MIN(f->end - f->offset, FEED_CHUNK));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break;
                f->offset = (guint64)off;
            }
        }
    }
    if (fd >= 0)
        close(fd);
    g_atomic_int_set(&f->done, 1);
    return NULL;
}

/* Ends the feeder, whatever it is doing: blocked opening the FIFO (nobody
 * opened it to read) or writing into a pipe nobody reads any more. */
static void feeder_stop(Feeder *f, GThread *thread)
{
    int drain_fd;
    char sink[65536];

    g_atomic_int_set(&f->cancelled, 1);
    drain_fd = open(f->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    while (drain_fd >= 0 && !g_atomic_int_get(&f->done)) {
        struct pollfd p = { .fd = drain_fd, .events = POLLIN };
        if (poll(&p, 1, 10) > 0 && read(drain_fd, sink, sizeof sink) < 0 && errno != EAGAIN)
            break;
    }
    g_thread_join(thread);
    if (drain_fd >= 0)
        close(drain_fd);
}

gboolean virt_restore_as(virConnectPtr conn, const char *path, const char *xml,
                         const char *fifo, GError **error)
{
    g_autoptr(VirtSaveImage) img = NULL;
    Feeder f = { .fifo = (char *)fifo, .image_fd = open_image(path, error) };
    struct stat st;
    GThread *thread;
    int rc;

    if (f.image_fd < 0)
        return FALSE;
    img = read_head(f.image_fd, path, error);
    if (!img || fstat(f.image_fd, &st) < 0) {
        if (img)
            g_set_error(error, OC_ERROR, OC_EIO, "cannot stat save image %s: %s", path,
                        g_strerror(errno));
        close(f.image_fd);
        return FALSE;
    }
    unlink(fifo); /* a leftover of a process that died here */
    if (mkfifo(fifo, 0600) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot create FIFO %s: %s", fifo, g_strerror(errno));
        close(f.image_fd);
        return FALSE;
    }
    f.head = virt_save_image_head(img, xml);
    f.offset = img->stream_offset;
    f.end = (guint64)st.st_size;
    thread = g_thread_new("oc-restore-feed", feed_thread, &f);
    rc = virDomainRestoreFlags(conn, fifo, NULL, VIR_DOMAIN_SAVE_RUNNING);
    if (rc < 0)
        virt_set_error(error, OC_EVIRT, "cannot restore from %s", path);
    feeder_stop(&f, thread);
    unlink(fifo);
    close(f.image_fd);
    g_bytes_unref(f.head);
    return rc == 0;
}
