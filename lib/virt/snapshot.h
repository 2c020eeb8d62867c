/* snapshot.h: freezing a running domain's memory and disk (the libvirt half
 * of a checkpoint). */
#ifndef OC_VIRT_SNAPSHOT_H
#define OC_VIRT_SNAPSHOT_H

#include <glib.h>
#include <libvirt/libvirt.h>

/* Saves the running domain's memory and device state to mem_path (a save
 * image) and moves its disk onto overlay, an existing qcow2 file backed by
 * the disk as it is now, so that the old disk stays frozen as the memory
 * image expects it.  The guest is paused meanwhile and then goes on.
 * libvirt keeps no snapshot metadata: the caller owns the files. */
gboolean virt_snapshot_external(virDomainPtr dom, const char *mem_path, const char *overlay,
                                GError **error);

/* Moves the running domain's disk onto overlay (an existing qcow2 file
 * backed by the disk as it is now), leaving the old disk frozen, without
 * saving memory: the guest pauses only for the switch.  Flush the guest's
 * writes first (sync in the guest): what it still caches is not in the
 * frozen disk. */
gboolean virt_snapshot_disk_only(virDomainPtr dom, const char *overlay, GError **error);

#endif
