/* checkpoints.h: checkpoints and template snapshots in the state directory.
 *
 *   STATE/checkpoints/ID/checkpoint.json  what it is; present = it exists
 *   STATE/checkpoints/ID/memory.save      the guest's memory (a save image)
 *   STATE/checkpoints/ID/disk.qcow2       the disk frozen at that moment
 *   STATE/checkpoints/ID/create.lock      held by the process making it
 *   STATE/templates/NAME/snapshot-KEY/    a template's ready snapshot, same
 *                                         files; KEY says what it was made of
 *   STATE/templates/NAME/snapshot         symlink to the current one
 *
 * Deleting a checkpoint removes checkpoint.json and memory.save; the frozen
 * disk stays while overlays build on it (image_layers_gc()). */
#ifndef OC_IMAGE_CHECKPOINTS_H
#define OC_IMAGE_CHECKPOINTS_H

#include <glib.h>

#include "net/policy.h"

typedef struct {
    char *id;            /* "cp-" and 12 hex digits; "snapshot" for a template's */
    char *name;
    char *sandbox_id;    /* taken of */
    char *template_name;
    char *key;           /* template snapshots: what it was made of */
    gint64 created;      /* unix seconds */
    guint32 cpu_count;
    guint32 memory_mb;
    guint64 size_bytes;  /* memory image + frozen disk */
    char *dir;           /* where its files are */
    NetPolicy *network;  /* the sandbox's egress policy when taken, inherited by
                          * forks; NULL: none */
} ImageCheckpoint;

void image_checkpoint_free(ImageCheckpoint *cp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ImageCheckpoint, image_checkpoint_free)

char *image_checkpoint_new_id(void);
char *image_checkpoint_dir(const char *state_dir, const char *id);
char *image_checkpoint_file(const ImageCheckpoint *cp, const char *name);
/* Loads a checkpoint by id: OC_EINVAL for a malformed id, OC_ENOTFOUND
 * (naming the id) for one that does not exist or was deleted. */
ImageCheckpoint *image_checkpoint_load(const char *state_dir, const char *id, GError **error);
/* Loads checkpoint.json from a directory (template snapshots). */
ImageCheckpoint *image_checkpoint_load_dir(const char *dir, GError **error);
/* Writes checkpoint.json durably: from then on the checkpoint exists. */
gboolean image_checkpoint_commit(const ImageCheckpoint *cp, GError **error);
/* Checkpoints oldest first; sandbox_id filters (NULL: all). */
GPtrArray *image_checkpoint_list(const char *state_dir, const char *sandbox_id);
/* Removes the checkpoint (its json and memory image), then collects disks. */
gboolean image_checkpoint_delete(const char *state_dir, const char *id, GError **error);

/* Takes dir/create.lock (creating dir): the descriptor, or -1. */
int image_lock_dir(const char *dir, GError **error);

/* The template's current ready snapshot, or NULL (OC_ENOTFOUND). */
ImageCheckpoint *image_template_snapshot(const char *state_dir, const char *name,
                                         GError **error);
/* Makes dir (templates/NAME/snapshot-KEY) the template's current snapshot. */
gboolean image_template_snapshot_publish(const char *state_dir, const char *name,
                                         const char *dir, GError **error);

/* Removes frozen disks of deleted checkpoints and replaced template
 * snapshots that no overlay builds on any more. */
void image_layers_gc(const char *state_dir);
/* The backing file named in a qcow2 header, or NULL (none, or an error). */
char *image_qcow2_backing(const char *path, GError **error);
/* The disks of top's chain, top first, as each names the next: up to the
 * first that is missing or names none. */
GPtrArray *image_qcow2_chain(const char *top);
/* A set of disks, by inode (a disk has several paths: links, symlinks). */
GHashTable *image_disk_set_new(void);
/* Adds every disk of top's chain (top included). */
void image_disk_set_mark_chain(GHashTable *set, const char *top);
gboolean image_disk_set_has(GHashTable *set, const char *path);
/* Removes the qcow2 files in dir that top's chain does not reach (by inode):
 * overlays made for a change of disks that never happened, or left over by
 * one that did. */
void image_layers_prune(const char *dir, const char *top);
/* Removes a flat directory of layer files (a checkpoint's, a snapshot's). */
void image_layer_dir_remove(const char *dir);

#endif
