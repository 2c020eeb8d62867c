/* power.h: hibernate and wake through libvirt managed save (DESIGN.md #5). */
#ifndef OC_VIRT_POWER_H
#define OC_VIRT_POWER_H

#include <glib.h>
#include <libvirt/libvirt.h>

/* Managed-saves the domain (libvirt pauses it, writes its memory and device
 * state, and stops QEMU), then makes the image durable.  A save that fails
 * (its filesystem full, say) leaves the guest running and no image. */
gboolean virt_hibernate(virDomainPtr dom, GError **error);


/* Resumes a guest that QEMU paused on a disk I/O error: QEMU retries the
 * write that failed.  *resumed: whether it was paused so. */
gboolean virt_resume_after_io_error(virDomainPtr dom, gboolean *resumed, GError **error);

/* fsyncs the domain's managed save image and its directory.  FALSE with
 * OC_ENOTFOUND if there is no image. */
gboolean virt_sync_save_image(virDomainPtr dom, GError **error);

/* Path of the domain's managed save image (it may not exist). */
char *virt_save_image_path(virDomainPtr dom);

/* Starts the domain from its managed save image if it has one.  If it has
 * none, or libvirt or QEMU cannot restore it, the image is discarded and the
 * domain boots from its disk.  *kind receives OC_WAKE_RESTORED or
 * OC_WAKE_COLD_BOOT.  paused: as in virt_start(). */
gboolean virt_restore_or_boot(virDomainPtr dom, gboolean paused, int *kind, GError **error);

/* Boots the domain from its disk, discarding any save image. */
gboolean virt_cold_boot(virDomainPtr dom, gboolean paused, GError **error);

/* Waits up to timeout_ms while a libvirt job (a save another process began)
 * runs on the domain.  FALSE with OC_ETIMEOUT if it is still running. */
gboolean virt_wait_no_job(virDomainPtr dom, guint timeout_ms, GError **error);

/* Resumes a domain that one of our operations left paused: a save,
 * snapshot or restore that failed, or whose process died (libvirt resumes
 * after most failures itself, but a guest must never stay frozen).  Those
 * pause inside a libvirt job, so call it with no job running.  A guest
 * paused on a disk I/O error or its own crash is left so: that is its
 * state, reported as error (virt_resume_after_io_error() is for wake).
 * TRUE if it was paused and now runs. */
gboolean virt_resume_paused(virDomainPtr dom);

#endif
