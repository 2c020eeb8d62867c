/* templates.h: a template as the API shows it (its template.json and its
 * files), which disks build on it, and removing it.
 *
 *   STATE/templates/NAME/template.json  {"name", "key", "created", "size_bytes",
 *                                        for a built template "parent", "steps",
 *                                        "env", "workdir", "user", "agent", "layer";
 *                                        for an imported one "imported_from"}
 *   STATE/templates/NAME/use.lock       shared while a sandbox is being made
 *                                       from it, exclusive while it is removed
 */
#ifndef OC_IMAGE_TEMPLATES_H
#define OC_IMAGE_TEMPLATES_H

#include <glib.h>

typedef struct {
    char *name;
    char *key;          /* the version of its disk */
    char *parent;       /* the template it was built from, or NULL */
    gint64 created_at;  /* unix seconds */
    guint64 size_bytes; /* the virtual size of its disk */
    guint64 disk_bytes; /* what its own files take on the host */
    char **steps;       /* how it was built, one line a step; empty for none */
    /* Defaults for sandboxes made from it (a built template's ENV, WORKDIR
     * and USER, with its parent's): */
    char **env;         /* "K=V"; empty for none */
    char *workdir;      /* NULL: the agent's default */
    char *user;         /* NULL: root */
    char **agent;       /* the agent program and its arguments (LABEL
                         * opencomputer.agent); NULL: the library's default */
    char *imported_from; /* the tarball it was imported from, or NULL */
} ImageTemplate;

ImageTemplate *image_template_load(const char *state_dir, const char *name, GError **error);
void image_template_free(ImageTemplate *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ImageTemplate, image_template_free)

/* What builds on the template's disk, from outside its own directory:
 * "sandbox ID", "checkpoint ID" and "template NAME", sorted. */
GPtrArray *image_template_users(const char *state_dir, const char *name);

/* Takes templates/NAME/use.lock, shared or (without waiting) exclusive;
 * returns the fd to close, or -1 with OC_ESTATE when another holds it. */
int image_template_use_lock(const char *state_dir, const char *name, gboolean exclusive,
                            GError **error);

/* Removes the template's directory: at once from every listing (renamed
 * aside first), then its files. */
gboolean image_template_remove(const char *state_dir, const char *name, GError **error);

#endif
