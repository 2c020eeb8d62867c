/* layerprune.h: emptying the layer cache of template builds
 * (buildlayers.h) of what no template, disk or recent build needs.
 *
 * The rule.  A layer is kept when
 *   - a template was collapsed from it (its template.json names it as
 *     "layer"): rebuilding that template, or building on the same steps,
 *     stays cached;
 *   - any disk in the state directory builds on it (a sandbox's overlay, a
 *     checkpoint's or a template's disk): it is in use;
 *   - it was made within the last keep_days days (0: none is kept for its
 *     age): a recent build, whose template may not exist yet (a failed
 *     build resumes from its last good step);
 * and so is every layer a kept layer builds on.  Everything else goes:
 * layers of replaced template versions, of deleted templates and of old
 * failed builds. */
#ifndef OC_IMAGE_LAYERPRUNE_H
#define OC_IMAGE_LAYERPRUNE_H

#include <glib.h>

typedef struct {
    guint removed;
    guint kept;
    guint64 bytes_freed;   /* what the removed files took on the host */
} ImageLayerPrune;

/* Prunes the layer cache by the rule above, under the build lock (waiting
 * for a build that runs). */
gboolean image_layers_prune_cache(const char *state_dir, guint keep_days, ImageLayerPrune *out,
                                  GError **error);

#endif
