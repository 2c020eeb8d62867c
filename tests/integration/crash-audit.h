/* crash-audit.h: compares what the library lists with what is really there
 * (libvirt's domains and managed saves, the files of the state directory),
 * from outside the library, for the crash tests. */
#ifndef OC_CRASH_AUDIT_H
#define OC_CRASH_AUDIT_H

#include <glib.h>
#include <libvirt/libvirt.h>

#include "opencomputer.h"

typedef struct {
    virConnectPtr conn;
    const char *state_dir;
    GHashTable *seen; /* every sandbox id an audit came across (owned) */
} CrashAudit;

void crash_audit_init(CrashAudit *a, virConnectPtr conn, const char *state_dir);
void crash_audit_clear(CrashAudit *a);

/* Lists sandboxes through a fresh context (which is what recovers) and
 * compares.  NULL when all is in order, else one line per problem:
 *   - a domain of this state directory (by its disk's path) that is not
 *     listed, or one listed in another state than libvirt's, paused, or with
 *     a libvirt job still running;
 *   - a sandbox directory without a listed sandbox, a disk in it that the
 *     domain's disk does not build on, or a file only an unfinished
 *     operation leaves (restore.fifo, disks.pending, hibernating);
 *   - a checkpoint directory without checkpoint.json that still holds a
 *     memory image or a lock, or whose disk no listed sandbox builds on;
 *   - a managed save image of a sandbox that is not listed as hibernated. */
char *crash_audit_run(CrashAudit *a);

/* Polls crash_audit_run() until it finds nothing (TRUE) or timeout_s passes
 * (FALSE, *problems set to the last findings). */
gboolean crash_audit_wait(CrashAudit *a, int timeout_s, char **problems);

#endif
