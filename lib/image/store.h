/* store.h: what lives in the state directory.
 *
 *   STATE/boot/{vmlinuz,initrd.img}      guest kernel and our initramfs
 *   STATE/templates/NAME/disk-KEY.qcow2  a version of a template's root disk
 *   STATE/templates/NAME/disk.qcow2      symlink to the newest version
 *   STATE/templates/NAME/template.json   its recipe key and creation time
 *   STATE/sandboxes/ID/disk.qcow2        a sandbox's overlay on its template
 *   STATE/sandboxes/ID/console.log       its serial console
 *   STATE/sandboxes/ID/create.lock       held by the process creating it
 */
#ifndef OC_IMAGE_STORE_H
#define OC_IMAGE_STORE_H

#include <glib.h>

gboolean image_boot_paths(const char *state_dir, char **kernel, char **initrd, GError **error);
/* Real path of the template's newest disk version (what an overlay must be
 * backed by); OC_ENOTFOUND naming the templates that exist
 * when there is no such template, OC_EINVAL for a malformed name. */
char *image_template_disk(const char *state_dir, const char *name, GError **error);
/* Names of the templates present, sorted. */
GPtrArray *image_template_list(const char *state_dir);
char *image_sandbox_dir(const char *state_dir, const char *id);
/* Deletes a sandbox's directory and everything in it. */
gboolean image_sandbox_dir_remove(const char *state_dir, const char *id, GError **error);

/* For g_ptr_array_sort() of strings. */
int image_strcmp_indirect(gconstpointer a, gconstpointer b);

#endif
