/* overlay.c: qcow2 overlays.
 *
 * qemu-img costs about 25 ms of process start-up per overlay (DESIGN.md),
 * which is small against a boot; writing the qcow2 header in-process is the
 * next step when create is measured to need it. */
#include "virt/overlay.h"

#include "util/error.h"

gboolean virt_overlay_create(const char *path, const char *backing, GError **error)
{
    const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                           "-b", backing, path, NULL };
    g_autofree char *err_out = NULL;
    int status = 0;
    GError *spawn_err = NULL;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, NULL, &err_out, &status, &spawn_err)) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot run qemu-img to create %s: %s "
                    "(install qemu-utils)", path, spawn_err->message);
        g_error_free(spawn_err);
        return FALSE;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, OC_ERROR, OC_EIO, "qemu-img could not create %s: %s", path,
                    err_out ? g_strstrip(err_out) : "no message");
        return FALSE;
    }
    return TRUE;
}
