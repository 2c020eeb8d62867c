/* rootfs.h: a template disk from a root filesystem tarball.
 *
 * The tarball is unpacked by GNU tar into a private directory, checked to
 * be a Linux userland, and turned into the same kind of disk the base
 * template has: an ext4 filesystem labelled oc-root (mke2fs -d, so no loop
 * device or mount is needed) in a qcow2 image.  Nothing in the tarball is
 * ever run on the host. */
#ifndef OC_IMAGE_ROOTFS_H
#define OC_IMAGE_ROOTFS_H

#include <glib.h>

/* Unpacks tarball (plain, gzip or xz; bzip2 and zstd where their tools
 * are installed: tar detects which) into
 * dir, an empty directory, keeping numeric owners, modes and file
 * capabilities.  tar's own protections keep every member inside dir.
 * OC_ENOTFOUND for a missing file, OC_EINVAL for one that is no tar. */
gboolean image_rootfs_extract(const char *tarball, const char *dir, GError **error);

/* Checks that dir holds a Linux userland the guest can run commands in: an
 * executable /bin/sh or /usr/bin/sh (symlinks resolved inside dir) of this
 * machine's architecture.  Adds what the guest's init needs and the
 * tarball may lack: /bin/sh pointing at /usr/bin/sh when only that exists,
 * and the directories it mounts on (dev, proc, sys, run, tmp).  OC_EINVAL
 * naming what is missing. */
gboolean image_rootfs_check(const char *dir, GError **error);

/* Makes disk (a new qcow2 file) of dir: ext4, labelled oc-root, with room
 * for sandboxes to write (at least 4 GiB, sparse).  scratch: a directory
 * for the raw image meanwhile.  *size_bytes: the disk's virtual size. */
gboolean image_rootfs_make_disk(const char *dir, const char *scratch, const char *disk,
                                guint64 *size_bytes, GError **error);

#endif
