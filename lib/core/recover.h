/* recover.h: what a process that dies midway leaves behind, and putting it
 * right (docs/security.md, "Crash safety").
 *
 * Every multi-step change leaves a sign that it was begun, which its maker
 * removes when done and which nobody else acts on while the maker lives
 * (a lock it holds):
 *   - a sandbox being created: its record's creating mark, with create.lock
 *     held (lookup_ready() in sandbox.c removes it once the lock is free);
 *   - a directory without a domain: swept once it is a little old;
 *   - a hibernate: sandboxes/ID/hibernating (power.c; libvirt finishes the
 *     save on its own);
 *   - a change of the sandbox's disks (checkpoint, restore in place):
 *     sandboxes/ID/disks.pending, under the sandbox's power lock, naming the
 *     checkpoint directory being made.
 * Whoever lists sandboxes next, or changes that sandbox's disks, finishes or
 * undoes what it finds; doing it twice does nothing more. */
#ifndef OC_CORE_RECOVER_H
#define OC_CORE_RECOVER_H

#include "core/sandbox.h"

/* Marks a change of sb's disks as begun; layer_dir: the checkpoint (or
 * template snapshot) directory it makes, or NULL.  The caller holds sb's
 * power lock. */
void core_recover_mark_disks(oc_sandbox *sb, const char *layer_dir);
/* The change is over (done or undone). */
void core_recover_unmark_disks(oc_sandbox *sb);
/* If a change of the sandbox's disks was left half done, removes the disks
 * its domain does not build on, and the unfinished checkpoint's memory image
 * (and its directory, unless the sandbox now builds on its disk).  The caller
 * holds the sandbox's power lock, or knows that nobody does. */
void core_recover_disks(oc_context *ctx, virDomainPtr dom, const char *id);
/* Puts right what dead processes left in the state directory: directories
 * without a domain, and half-done changes of disks. */
void core_recover_sweep(oc_context *ctx);

#endif
