/* buildlayers.h: the layer cache of template builds, and writing a built
 * template into the store.
 *
 *   STATE/cache/layers/KEY.qcow2  the disk as it was after the build step
 *                                 whose content key is KEY (buildspec.h); a
 *                                 qcow2 overlay on the layer of the step
 *                                 before, or on the parent template's disk
 *   STATE/cache/layers/KEY.json   what made it; present = the layer exists
 *   STATE/cache/layers/build.lock held by the process building
 *
 * A layer is frozen once its json exists: nothing writes to it again, so any
 * later build whose steps hash to KEY may start from it.  A layer file
 * without its json is a build that died before finishing the step; the next
 * build removes it. */
#ifndef OC_IMAGE_BUILDLAYERS_H
#define OC_IMAGE_BUILDLAYERS_H

#include <glib.h>

/* Takes the layer cache's build lock (waiting for another build), then
 * removes what dead builds left (unfinished layers, a template disk or
 * directory not yet in place): the descriptor to close, or -1. */
int image_layers_lock(const char *state_dir, GError **error);
/* STATE/cache/layers/KEY.qcow2 (whether or not it exists). */
char *image_layer_path(const char *state_dir, const char *key);
/* TRUE if the layer exists and every disk it builds on is there; one whose
 * disks are gone (a parent template deleted, a replaced ready snapshot
 * collected) is removed.  The caller holds the build lock. */
gboolean image_layer_usable(const char *state_dir, const char *key);
/* Writes KEY.json durably (the layer file must be synced already): from
 * then on the layer exists. */
gboolean image_layer_commit(const char *state_dir, const char *key, const char *step,
                            GError **error);
/* Removes a layer file that was never committed. */
void image_layer_discard(const char *state_dir, const char *key);

/* What a built template's template.json says besides its disk. */
typedef struct {
    const char *name;
    const char *key;          /* the last step's key: its content version */
    const char *parent;
    const char *const *steps; /* as build_step_describe() writes them */
    const char *const *env;   /* "K=V" */
    const char *workdir;      /* NULL: none set */
    const char *user;         /* NULL: none set */
    const char *const *agent; /* the agent program and its arguments; NULL: none set */
    guint64 size_bytes;
    const char *layer;        /* the cached layer its disk was collapsed from (what
                               * prunes keep); NULL: none */
    const char *imported_from; /* the root filesystem tarball it was made of, or NULL */
} ImageTemplateRecipe;

/* Makes disk (a qcow2 file, taken: moved into place) version KEY of
 * template NAME, with its template.json: a new template appears whole (its
 * directory is made aside and renamed into place); an existing one gets a
 * new disk version, and keeps the old ones that sandboxes may build on. */
gboolean image_template_install(const char *state_dir, const ImageTemplateRecipe *r,
                                const char *disk, GError **error);

#endif
