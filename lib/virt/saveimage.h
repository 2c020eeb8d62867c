/* saveimage.h: libvirt's QEMU save images, and starting a domain from one
 * under another name (DESIGN.md #6).
 *
 * A save image (managed save, virDomainSave, or the memory file of an
 * external snapshot) is a fixed header, the domain XML, a migration cookie,
 * then QEMU's migration stream.  libvirt restores an image only into the
 * domain named by its XML, with the same UUID, so a fork or a restore into
 * another domain sends libvirt a new header and XML followed by the same
 * stream, through a FIFO: nothing of the stream is copied on disk. */
#ifndef OC_VIRT_SAVEIMAGE_H
#define OC_VIRT_SAVEIMAGE_H

#include <glib.h>
#include <libvirt/libvirt.h>

/* Size of libvirt's fixed header: magic, five u32 fields, 14 unused u32. */
#define VIRT_SAVE_HEADER_SIZE 92
/* XML and cookie of a real image are a few KiB (libvirt pads them to
 * 64 KiB); anything beyond this is taken as damage, not read. */
#define VIRT_SAVE_MAX_DATA (16u * 1024u * 1024u)

typedef struct {
    guint32 version;
    guint32 data_len;       /* XML + cookie, with libvirt's padding */
    char *xml;              /* the domain XML */
    char *cookie;           /* the migration cookie (NUL-terminated), or NULL */
    guint64 stream_offset;  /* where QEMU's migration stream starts */
} VirtSaveImage;

void virt_save_image_free(VirtSaveImage *img);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VirtSaveImage, virt_save_image_free)

/* Parses the header and data of an image from its first len bytes: buf must
 * hold VIRT_SAVE_HEADER_SIZE + data_len bytes, or *need receives how many
 * it must hold and NULL is returned without an error.  OC_EINVAL names what
 * is wrong with a damaged, partial or compressed image. */
VirtSaveImage *virt_save_image_parse(const guint8 *buf, gsize len, gsize *need, GError **error);
/* Reads and parses an image's head from a file. */
VirtSaveImage *virt_save_image_read(const char *path, GError **error);
/* Whether the domain saved in the image at path had a NIC, so that a domain
 * resumed from it is defined with the same devices.  An unreadable image:
 * TRUE (restoring it fails anyway, with its own error). */
gboolean virt_save_image_has_nic(const char *path);
/* A new head (header, xml, the image's cookie) for the image's stream. */
GBytes *virt_save_image_head(const VirtSaveImage *img, const char *xml);

/* Starts the defined, inactive domain whose migratable XML is xml (its name
 * and UUID) from the stream of the image at path, running.  fifo: a path
 * for the FIFO to create and remove (in a directory of the caller's). */
gboolean virt_restore_as(virConnectPtr conn, const char *path, const char *xml,
                         const char *fifo, GError **error);

#endif
