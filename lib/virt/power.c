/* power.c: hibernate and wake through libvirt managed save.
 *
 * libvirt keeps the managed save image in its own directory and restores
 * from it on the next start of the domain; the image and libvirt's flag that
 * it exists are the only record that a sandbox is hibernated, so there is
 * nothing of ours to get out of step with them if a process dies midway. */
#include "virt/power.h"

#include <errno.h>
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <unistd.h>

#include "opencomputer.h"
#include "util/crashpoint.h"
#include "util/diskspace.h"
#include "util/durable.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"

char *virt_save_image_path(virDomainPtr dom)
{
    g_autofree char *uri = virConnectGetURI(virDomainGetConnect(dom));
    g_autofree char *file = g_strdup_printf("%s.save", virDomainGetName(dom));

    /* Where libvirt's QEMU driver keeps managed save images: fixed per
     * driver instance, not configurable in qemu.conf. */
    if (uri && g_str_has_suffix(uri, "/session"))
        return g_build_filename(g_get_user_config_dir(), "libvirt", "qemu", "save", file, NULL);
    return g_build_filename("/var/lib/libvirt/qemu/save", file, NULL);
}

gboolean virt_sync_save_image(virDomainPtr dom, GError **error)
{
    g_autofree char *path = virt_save_image_path(dom);

    return durable_sync(path, error) && durable_sync_parent(path, error);
}

gboolean virt_resume_after_io_error(virDomainPtr dom, gboolean *resumed, GError **error)
{
    int state, reason;

    *resumed = FALSE;
    if (virDomainGetState(dom, &state, &reason, 0) < 0 || state != VIR_DOMAIN_PAUSED ||
        reason != VIR_DOMAIN_PAUSED_IOERROR)
        return TRUE;
    if (virDomainResume(dom) < 0) {
        virt_set_error(error, OC_EVIRT, "cannot resume sandbox %s after its disk error",
                       virDomainGetName(dom));
        return FALSE;
    }
    *resumed = TRUE;
    return TRUE;
}

/* Removes what a failed managed save left at path, unless libvirt counts it
 * as the domain's image.  It is emptied first: a file that cannot be
 * unlinked (a mount point) must still give its space back. */
static void discard_partial_save(virDomainPtr dom, const char *path)
{
    int fd;

    if (virDomainHasManagedSaveImage(dom, 0) != 0)
        return;
    fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return; /* libvirt removed it */
    if (ftruncate(fd, 0) < 0)
        log_warning("%s: cannot empty the partial save image %s: %s", virDomainGetName(dom),
                    path, g_strerror(errno));
    close(fd);
    if (unlink(path) < 0)
        log_warning("%s: cannot remove the partial save image %s: %s", virDomainGetName(dom),
                    path, g_strerror(errno));
}

gboolean virt_hibernate(virDomainPtr dom, GError **error)
{
    if (virDomainManagedSave(dom, 0) < 0) {
        g_autofree char *path = NULL, *dir = NULL;

        virt_set_error(error, OC_EVIRT, "cannot hibernate sandbox %s", virDomainGetName(dom));
        path = virt_save_image_path(dom);
        dir = g_path_get_dirname(path);
        /* before the partial image goes and gives its space back */
        diskspace_explain(error, dir, (guint64)virDomainGetMaxMemory(dom) * 1024);
        discard_partial_save(dom, path);
        if (virt_resume_paused(dom))
            log_info("%s: resumed after a failed save", virDomainGetName(dom));
        return FALSE;
    }
    crash_timer_end("hibernate", "saving");
    crash_point("hibernate", "saved");
    if (!virt_sync_save_image(dom, error)) {
        g_prefix_error(error, "sandbox %s was saved but its image is not durable: ",
                       virDomainGetName(dom));
        return FALSE;
    }
    return TRUE;
}

gboolean virt_cold_boot(virDomainPtr dom, gboolean paused, GError **error)
{
    if (virDomainCreateWithFlags(dom, VIR_DOMAIN_START_FORCE_BOOT |
                                          (paused ? VIR_DOMAIN_START_PAUSED : 0)) < 0) {
        virt_set_error(error, OC_EVIRT, "cannot boot sandbox %s", virDomainGetName(dom));
        return FALSE;
    }
    return TRUE;
}

gboolean virt_restore_or_boot(virDomainPtr dom, gboolean paused, int *kind, GError **error)
{
    const char *name = virDomainGetName(dom);

    if (virDomainHasManagedSaveImage(dom, 0) == 1) {
        if (virDomainCreateWithFlags(dom, paused ? VIR_DOMAIN_START_PAUSED : 0) == 0) {
            *kind = OC_WAKE_RESTORED;
            return TRUE;
        }
        log_warning("%s: cannot restore from the save image (%s); booting from its disk", name,
                    virGetLastErrorMessage());
        if (virDomainManagedSaveRemove(dom, 0) < 0)
            log_warning("%s: cannot remove the save image: %s", name, virGetLastErrorMessage());
    }
    *kind = OC_WAKE_COLD_BOOT;
    return virt_cold_boot(dom, paused, error);
}

gboolean virt_resume_paused(virDomainPtr dom)
{
    int state, reason;

    if (virDomainGetState(dom, &state, &reason, 0) < 0 || state != VIR_DOMAIN_PAUSED ||
        reason == VIR_DOMAIN_PAUSED_IOERROR || reason == VIR_DOMAIN_PAUSED_CRASHED)
        return FALSE;
    if (virDomainResume(dom) < 0) {
        log_warning("%s: cannot resume it (an operation left it paused): %s",
                    virDomainGetName(dom), virGetLastErrorMessage());
        return FALSE;
    }
    return TRUE;
}

gboolean virt_wait_no_job(virDomainPtr dom, guint timeout_ms, GError **error)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    virDomainJobInfo job;

    for (;;) {
        if (virDomainGetJobInfo(dom, &job) < 0 || job.type == VIR_DOMAIN_JOB_NONE)
            return TRUE;
        if (g_get_monotonic_time() >= end)
            break;
        g_usleep(50 * 1000);
    }
    g_set_error(error, OC_ERROR, OC_ETIMEOUT,
                "sandbox %s is still busy with a libvirt job (a hibernate another process "
                "began?) after %u s; try again later", virDomainGetName(dom), timeout_ms / 1000);
    return FALSE;
}
