/* store.c: locating templates, boot artifacts and sandbox directories. */
#include "image/store.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "opencomputer.h"
#include "util/error.h"

gboolean image_boot_paths(const char *state_dir, char **kernel, char **initrd, GError **error)
{
    g_autofree char *k = g_build_filename(state_dir, "boot", "vmlinuz", NULL);
    g_autofree char *i = g_build_filename(state_dir, "boot", "initrd.img", NULL);

    if (!g_file_test(k, G_FILE_TEST_IS_REGULAR) || !g_file_test(i, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, OC_ERROR, OC_ENOTFOUND,
                    "the guest kernel and initramfs are missing from %s/boot; "
                    "build them with ./scripts/quickstart", state_dir);
        return FALSE;
    }
    *kernel = g_steal_pointer(&k);
    *initrd = g_steal_pointer(&i);
    return TRUE;
}

int image_strcmp_indirect(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static gboolean valid_name(const char *name)
{
    if (!*name || strlen(name) > 64 || name[0] == '.')
        return FALSE;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("._-", *p))
            return FALSE;
    return TRUE;
}

GPtrArray *image_template_list(const char *state_dir)
{
    g_autofree char *dir = g_build_filename(state_dir, "templates", NULL);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;

    if (!d)
        return names;
    while ((n = g_dir_read_name(d))) {
        g_autofree char *disk = g_build_filename(dir, n, "disk.qcow2", NULL);
        if (valid_name(n) && g_file_test(disk, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(names, g_strdup(n));
    }
    g_dir_close(d);
    g_ptr_array_sort(names, image_strcmp_indirect);
    return names;
}

char *image_template_disk(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *disk = NULL;

    if (!valid_name(name)) {
        g_set_error(error, OC_ERROR, OC_EINVAL,
                    "invalid template name '%s': use letters, digits, '.', '_' and '-'", name);
        return NULL;
    }
    disk = g_build_filename(state_dir, "templates", name, "disk.qcow2", NULL);
    if (g_file_test(disk, G_FILE_TEST_IS_REGULAR)) {
        /* disk.qcow2 links to the newest version; an overlay must be backed
         * by that version's own path, which a rebuild keeps in place. */
        char *real = realpath(disk, NULL);
        if (real) {
            g_free(disk);
            disk = g_strdup(real);
            free(real);
        }
    } else {
        g_autoptr(GPtrArray) have = image_template_list(state_dir);
        g_ptr_array_add(have, NULL);
        g_autofree char *list = g_strjoinv(", ", (char **)have->pdata);
        g_set_error(error, OC_ERROR, OC_ENOTFOUND,
                    "unknown template '%s'; available templates: %s", name,
                    *list ? list : "none (build the base template with ./scripts/quickstart)");
        return NULL;
    }
    return g_steal_pointer(&disk);
}

char *image_sandbox_dir(const char *state_dir, const char *id)
{
    return g_build_filename(state_dir, "sandboxes", id, NULL);
}

gboolean image_sandbox_dir_remove(const char *state_dir, const char *id, GError **error)
{
    g_autofree char *dir = image_sandbox_dir(state_dir, id);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;

    if (!d)
        return TRUE; /* already gone */
    /* A sandbox directory is flat: our files only, no subdirectories. */
    while ((n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        if (g_unlink(p) < 0 && errno != ENOENT) {
            int e = errno;
            g_dir_close(d);
            g_set_error(error, OC_ERROR, OC_EIO, "cannot delete %s: %s", p, g_strerror(e));
            return FALSE;
        }
    }
    g_dir_close(d);
    if (g_rmdir(dir) < 0 && errno != ENOENT) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot delete %s: %s", dir, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}
