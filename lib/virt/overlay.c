/* overlay.c: qcow2 overlays, written in-process.
 *
 * A fresh overlay is nothing but metadata: a header naming its backing file,
 * one refcount table cluster, one refcount block and an all-zero L1 table.
 * Spawning qemu-img to write those few hundred bytes cost about 25 ms per
 * sandbox; writing them here costs well under a millisecond plus the fsync.
 * The layout is the one qemu-img create uses for the same command (see
 * docs/interop/qcow2.txt in QEMU), so QEMU and qemu-img check treat the
 * result exactly like one of their own.
 */
#include "virt/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define CLUSTER_BITS 16
#define CLUSTER_SIZE ((guint64)1 << CLUSTER_BITS)
#define HEADER_V3_LEN 112       /* up to and including the compression type */
#define EXT_BACKING_FORMAT 0xe2792acau
#define BACKING_NAME_MAX 1023   /* the spec's limit; QEMU refuses longer names */
/* One L2 table (a cluster of 8-byte entries) maps this many guest bytes. */
#define L2_SPAN (CLUSTER_SIZE * (CLUSTER_SIZE / 8))
/* QEMU's own limit on the L1 table (32 MiB): beyond it QEMU cannot open the
 * image, so there is no point writing one. */
#define L1_MAX_ENTRIES ((guint64)32 * 1024 * 1024 / 8)

/* Fixed layout, by cluster: 0 header and backing name, 1 refcount table,
 * 2 refcount block, 3.. L1 table.  With refcount order 4 (16-bit counts) a
 * single block covers 32768 clusters, far more than the at most 3 + 512
 * clusters an overlay starts with. */
#define REFTABLE_OFFSET (1 * CLUSTER_SIZE)
#define REFBLOCK_OFFSET (2 * CLUSTER_SIZE)
#define L1_OFFSET (3 * CLUSTER_SIZE)
#define L1_MAX_CLUSTERS (L1_MAX_ENTRIES * 8 / CLUSTER_SIZE)

static void put_be32(guint8 *p, guint32 v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, sizeof v);
}

static void put_be64(guint8 *p, guint64 v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, sizeof v);
}

static guint32 get_be32(const guint8 *p)
{
    guint32 v;
    memcpy(&v, p, sizeof v);
    return GUINT32_FROM_BE(v);
}

static guint64 get_be64(const guint8 *p)
{
    guint64 v;
    memcpy(&v, p, sizeof v);
    return GUINT64_FROM_BE(v);
}

static int code_for_errno(int err)
{
    switch (err) {
    case ENOENT: case ENOTDIR: return OC_ENOTFOUND;
    case EACCES: case EPERM: case EROFS: return OC_EPERM;
    case EEXIST: return OC_EEXISTS;
    default: return OC_EIO;
    }
}

/* Reads the virtual size from the backing image's header.  Only the fixed
 * header is needed: QEMU follows the backing's own chain when it opens the
 * overlay. */
static gboolean backing_size(const char *file, const char *path, guint64 *size, GError **error)
{
    guint8 h[104]; /* a v3 header is at least this long, a v2 one 72 bytes */
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    guint32 version;

    if (fd < 0) {
        int e = errno;
        g_set_error(error, OC_ERROR, code_for_errno(e), "cannot create overlay %s: backing "
                    "image %s: %s (was its template removed?)", path, file, g_strerror(e));
        return FALSE;
    }
    do {
        n = pread(fd, h, sizeof h, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;
        close(fd);
        g_set_error(error, OC_ERROR, OC_EIO, "cannot create overlay %s: cannot read backing "
                    "image %s: %s", path, file, g_strerror(e));
        return FALSE;
    }
    close(fd);
    if (n < 8 || get_be32(h) != QCOW2_MAGIC) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot create overlay %s: backing image %s "
                    "is not a qcow2 image (convert it with qemu-img convert -O qcow2)",
                    path, file);
        return FALSE;
    }
    version = get_be32(h + 4);
    if (version != 2 && version != 3) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot create overlay %s: backing image %s "
                    "is qcow2 version %u; only versions 2 and 3 are supported", path, file,
                    version);
        return FALSE;
    }
    if (n < (version == 2 ? 72 : 104)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot create overlay %s: backing image %s "
                    "is truncated (%zd bytes, shorter than a qcow2 header); re-create it",
                    path, file, n);
        return FALSE;
    }
    *size = get_be64(h + 24);
    return TRUE;
}

static gboolean write_all(int fd, const guint8 *buf, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return FALSE;
        }
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return TRUE;
}

/* Writes every non-zero byte of the image; the rest are holes, which read as
 * the zeros the format needs (an empty L1 table, unused refcounts). */
static gboolean write_image(int fd, const char *name, guint64 size, guint64 l1_entries)
{
    guint8 head[HEADER_V3_LEN + 16 + 8 + BACKING_NAME_MAX] = { 0 };
    guint8 reftable[8];
    guint8 refblock[2 * (3 + L1_MAX_CLUSTERS)] = { 0 };
    size_t name_len = strlen(name);
    size_t name_off = HEADER_V3_LEN + 16 + 8;
    guint64 l1_clusters = (l1_entries * 8 + CLUSTER_SIZE - 1) / CLUSTER_SIZE;
    guint64 used = 3 + l1_clusters;

    put_be32(head + 0, QCOW2_MAGIC);
    put_be32(head + 4, 3);
    put_be64(head + 8, name_off);
    put_be32(head + 16, (guint32)name_len);
    put_be32(head + 20, CLUSTER_BITS);
    put_be64(head + 24, size);
    /* 32: no encryption */
    put_be32(head + 36, (guint32)l1_entries);
    put_be64(head + 40, L1_OFFSET);
    put_be64(head + 48, REFTABLE_OFFSET);
    put_be32(head + 56, 1);
    /* 60..95: no snapshots; incompatible, compatible, autoclear features 0 */
    put_be32(head + 96, 4); /* refcount order: 16-bit refcounts */
    put_be32(head + 100, HEADER_V3_LEN);
    /* 104: compression type zlib, then padding */
    /* Without the format extension QEMU would probe the backing's format,
     * which is slower and unsafe for images a guest can write to. */
    put_be32(head + 112, EXT_BACKING_FORMAT);
    put_be32(head + 116, 5);
    memcpy(head + 120, "qcow2", 5); /* padded to 8 bytes by the zeros after it */
    /* 128: the end-of-extensions marker, type 0 and length 0 */
    memcpy(head + name_off, name, name_len);

    put_be64(reftable, REFBLOCK_OFFSET);
    for (guint64 i = 0; i < used; i++)
        refblock[2 * i + 1] = 1; /* big-endian 16-bit 1 */

    /* The file ends where qemu-img's would: after the L1 table's bytes. */
    return write_all(fd, head, name_off + name_len, 0)
           && write_all(fd, reftable, sizeof reftable, REFTABLE_OFFSET)
           && write_all(fd, refblock, 2 * used, REFBLOCK_OFFSET)
           && ftruncate(fd, (off_t)(L1_OFFSET + l1_entries * 8)) == 0
           && fsync(fd) == 0;
}

gboolean virt_overlay_create(const char *path, const char *backing, GError **error)
{
    g_autofree char *resolved = NULL;
    guint64 size = 0, l1_entries;
    size_t name_len;
    int fd;

    g_return_val_if_fail(path != NULL && backing != NULL, FALSE);
    name_len = strlen(backing);
    if (name_len == 0 || name_len > BACKING_NAME_MAX) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot create overlay %s: the backing file "
                    "name must be 1 to %d bytes long", path, BACKING_NAME_MAX);
        return FALSE;
    }
    /* QEMU resolves a relative backing name against the overlay's directory,
     * so that is where its size must be read from. */
    if (!g_path_is_absolute(backing)) {
        g_autofree char *dir = g_path_get_dirname(path);
        resolved = g_build_filename(dir, backing, NULL);
    }
    if (!backing_size(resolved ? resolved : backing, path, &size, error))
        return FALSE;
    l1_entries = size / L2_SPAN + (size % L2_SPAN != 0);
    if (l1_entries > L1_MAX_ENTRIES) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot create overlay %s: backing image %s "
                    "claims %" G_GUINT64_FORMAT " bytes, more than QEMU can address with "
                    "64 KiB clusters", path, backing, size);
        return FALSE;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, OC_ERROR, code_for_errno(e), "cannot create overlay %s: %s%s",
                    path, g_strerror(e),
                    e == EEXIST ? " (remove it or choose another path)" : "");
        return FALSE;
    }
    if (!write_image(fd, backing, size, l1_entries)) {
        int e = errno;
        close(fd);
        unlink(path); /* a half-written image must never be mistaken for a disk */
        g_set_error(error, OC_ERROR, OC_EIO, "cannot write overlay %s: %s (check free space "
                    "on its file system)", path, g_strerror(e));
        return FALSE;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        g_set_error(error, OC_ERROR, OC_EIO, "cannot write overlay %s: %s (check free space "
                    "on its file system)", path, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}
