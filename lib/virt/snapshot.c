/* snapshot.c: external snapshots through libvirt.
 *
 * libvirt writes the memory file in its save image format, which is what
 * virt_restore_as() forks from.  The new overlay is ours (REUSE_EXT), so its
 * header names the frozen disk by the path we chose: a checkpoint's own,
 * which outlives the sandbox (see image/layers.h). */
#include "virt/snapshot.h"

#include "util/error.h"
#include "virt/domain.h"

/* mem_path NULL: a disk-only snapshot. */
static gboolean snapshot(virDomainPtr dom, const char *mem_path, const char *overlay,
                         GError **error)
{
    g_autofree char *mem = mem_path ? g_markup_escape_text(mem_path, -1) : NULL;
    g_autofree char *memory = mem ? g_strdup_printf("  <memory snapshot='external' file='%s'/>\n",
                                                    mem)
                                  : g_strdup("  <memory snapshot='no'/>\n");
    g_autofree char *ov = g_markup_escape_text(overlay, -1);
    g_autofree char *xml = g_strdup_printf(
        "<domainsnapshot>\n"
        "%s"
        "  <disks>\n"
        "    <disk name='vda' snapshot='external' type='file'>\n"
        "      <driver type='qcow2'/>\n"
        "      <source file='%s'/>\n"
        "    </disk>\n"
        "  </disks>\n"
        "</domainsnapshot>\n", memory, ov);
    virDomainSnapshotPtr snap;
    unsigned int flags = VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA |
                         VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;

    if (!mem_path)
        flags |= VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY;
    snap = virDomainSnapshotCreateXML(dom, xml, flags);
    if (!snap) {
        virt_set_error(error, OC_EVIRT, "cannot snapshot sandbox %s", virDomainGetName(dom));
        return FALSE;
    }
    virDomainSnapshotFree(snap);
    return TRUE;
}

gboolean virt_snapshot_external(virDomainPtr dom, const char *mem_path, const char *overlay,
                                GError **error)
{
    return snapshot(dom, mem_path, overlay, error);
}

gboolean virt_snapshot_disk_only(virDomainPtr dom, const char *overlay, GError **error)
{
    return snapshot(dom, NULL, overlay, error);
}
