/* record.h: a sandbox's own fields, kept in its libvirt domain's <metadata>
 * under the project namespace.  libvirt is the registry (DESIGN.md #1): no
 * second database, so any process can connect to a sandbox by id. */
#ifndef OC_VIRT_RECORD_H
#define OC_VIRT_RECORD_H

#include <glib.h>

#include "net/policy.h"

#define VIRT_META_URI "urn:x-libopencomputer:sandbox:1"
#define VIRT_META_PREFIX "oc"

typedef struct {
    char *id;
    char *template_name;
    gint64 created;       /* unix seconds */
    guint32 timeout_s;    /* idle timeout; 0 = never */
    guint32 cpu_count;
    guint32 memory_mb;
    GPtrArray *envs;      /* "K=V" strings */
    GPtrArray *metadata;  /* "K=V" strings */
    gboolean creating;    /* set until the first agent handshake succeeded */
    int last_wake;        /* oc_wake_kind of the last wake; 0 if never woken */
    char *origin;         /* "boot", "snapshot", "pool", "checkpoint"; NULL: "boot" */
    char *checkpoint;     /* forked or last restored from; NULL: none */
    gboolean pool;        /* an unclaimed member of the warm pool: hidden */
    NetPolicy *network;   /* egress policy as the user gave it; NULL: none */
    char *workdir;        /* exec's default cwd (its template's WORKDIR); NULL: none */
    char *user;           /* exec's user (its template's USER); NULL: root */
    char **agent;         /* agent sessions' default program and arguments (its
                           * template's); NULL: the library's default */
} VirtRecord;

VirtRecord *virt_record_new(void);
void virt_record_free(VirtRecord *rec);
VirtRecord *virt_record_copy(const VirtRecord *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VirtRecord, virt_record_free)

/* The <sandbox> element, without a namespace: virDomainSetMetadata puts it
 * and its children in VIRT_META_URI under VIRT_META_PREFIX.  (Prefixed
 * names here would come back doubled, "oc:oc:template".) */
char *virt_record_to_xml(const VirtRecord *rec);
/* Parses the element as libvirt returns it from virDomainGetMetadata. */
VirtRecord *virt_record_from_xml(const char *xml, GError **error);

/* Looks a key up in a "K=V" array; NULL if absent. */
const char *virt_kv_lookup(GPtrArray *kv, const char *key);

#endif
