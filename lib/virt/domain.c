/* domain.c: sandbox domains through libvirt: lookup, define, start,
 * remove, state, and the record kept in their metadata. */
#include "virt/domain.h"

#include <libvirt/virterror.h>
#include <stdarg.h>
#include <string.h>

#include "opencomputer.h"
#include "util/error.h"
#include "virt/power.h"

/* How long removal waits for a domain that a concurrent start brings up. */
#define VIRT_REMOVE_WAIT_MS 30000

void virt_set_error_why(GError **error, int code, const char *why, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, OC_ERROR, code, "%s: %s", what, why ? why : "unknown libvirt error");
}

virDomainPtr virt_lookup(virConnectPtr conn, const char *id, GError **error)
{
    virDomainPtr dom = virDomainLookupByName(conn, id);

    if (!dom) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
            g_set_error(error, OC_ERROR, OC_ENOTFOUND,
                        "no sandbox with id '%s' (it was killed, or never existed); "
                        "`oc ls` lists the sandboxes", id);
        else
            virt_set_error(error, OC_EVIRT, "cannot look up sandbox %s", id);
    }
    return dom;
}

virDomainPtr virt_define(virConnectPtr conn, const char *xml, GError **error)
{
    virDomainPtr dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
    if (!dom)
        virt_set_error(error, OC_EVIRT, "cannot define the sandbox's domain");
    return dom;
}

gboolean virt_start(virDomainPtr dom, gboolean paused, GError **error)
{
    if (virDomainCreateWithFlags(dom, paused ? VIR_DOMAIN_START_PAUSED : 0) < 0) {
        virt_set_error(error, OC_EVIRT, "cannot start sandbox %s", virDomainGetName(dom));
        return FALSE;
    }
    return TRUE;
}

gboolean virt_stop(virDomainPtr dom, GError **error)
{
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 &&
        virGetLastErrorCode() != VIR_ERR_OPERATION_INVALID) {
        virt_set_error(error, OC_EVIRT, "cannot stop sandbox %s", virDomainGetName(dom));
        return FALSE;
    }
    return TRUE;
}

gboolean virt_remove(virDomainPtr dom, GError **error)
{
    const char *name = virDomainGetName(dom);

    if (!virt_stop(dom, error))
        return FALSE;
    if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA) < 0 &&
        virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
        virt_set_error(error, OC_EVIRT, "cannot delete sandbox %s", name);
        return FALSE;
    }
    /* A start that another client began (a creator killed midway) runs on
     * in libvirtd: the domain it brings up is transient now, so stop it
     * when it appears, until the name is gone. */
    for (int i = 0; i < VIRT_REMOVE_WAIT_MS / 100; i++) {
        virDomainPtr again = virDomainLookupByName(virDomainGetConnect(dom), name);
        if (!again)
            return TRUE;
        virDomainDestroy(again);
        virDomainFree(again);
        g_usleep(100 * 1000);
    }
    g_set_error(error, OC_ERROR, OC_EVIRT, "sandbox %s is still in libvirt after %d s of trying to "
                "remove it; `virsh destroy %s` removes it", name, VIRT_REMOVE_WAIT_MS / 1000, name);
    return FALSE;
}

pid_t virt_domain_pid(virDomainPtr dom, GError **error)
{
    g_autofree char *uri = virConnectGetURI(virDomainGetConnect(dom));
    g_autofree char *file = g_strdup_printf("%s.pid", virDomainGetName(dom));
    g_autofree char *path = NULL, *text = NULL;
    guint64 pid = 0;

    /* Where libvirt's QEMU driver writes the pid of a running domain. */
    if (uri && g_str_has_suffix(uri, "/session"))
        path = g_build_filename(g_get_user_runtime_dir(), "libvirt", "qemu", "run", file, NULL);
    else
        path = g_build_filename("/run/libvirt/qemu", file, NULL);
    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, G_MAXINT32, &pid, NULL)) {
        g_set_error(error, OC_ERROR, OC_EVIRT, "cannot read the QEMU process id of sandbox %s "
                    "from %s (is it running?)", virDomainGetName(dom), path);
        return 0;
    }
    return (pid_t)pid;
}

VirtRecord *virt_get_record(virDomainPtr dom, GError **error)
{
    g_autofree char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VIRT_META_URI,
                                                VIR_DOMAIN_AFFECT_CONFIG);
    GError *perr = NULL;
    VirtRecord *rec;

    if (!xml) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA)
            g_set_error(error, OC_ERROR, OC_ENOTFOUND,
                        "domain %s is not a sandbox (it has no sandbox metadata)",
                        virDomainGetName(dom));
        else
            virt_set_error(error, OC_EVIRT, "cannot read sandbox %s", virDomainGetName(dom));
        return NULL;
    }
    rec = virt_record_from_xml(xml, &perr);
    if (!rec) {
        g_set_error(error, OC_ERROR, OC_EVIRT, "sandbox %s has damaged metadata: %s",
                    virDomainGetName(dom), perr->message);
        g_error_free(perr);
        return NULL;
    }
    rec->id = g_strdup(virDomainGetName(dom));
    return rec;
}

gboolean virt_set_record(virDomainPtr dom, const VirtRecord *rec, GError **error)
{
    g_autofree char *xml = virt_record_to_xml(rec);
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG;

    if (virDomainIsActive(dom) == 1)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, VIRT_META_PREFIX,
                             VIRT_META_URI, flags) < 0) {
        virt_set_error(error, OC_EVIRT, "cannot update sandbox %s", virDomainGetName(dom));
        return FALSE;
    }
    return TRUE;
}

/* What a user should know about a state libvirt gave a reason for, or
 * NULL when the state says it all. */
static const char *state_reason(int state, int reason)
{
    switch (state) {
    case VIR_DOMAIN_SHUTOFF:
        switch (reason) {
        case VIR_DOMAIN_SHUTOFF_CRASHED:
            return "its QEMU process exited unexpectedly (killed or crashed); wake boots it again "
                   "from its disk";
        case VIR_DOMAIN_SHUTOFF_FAILED:
            return "its VM failed to start; wake tries again, kill removes it";
        case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
            return "the guest shut itself down; wake boots it again from its disk";
        case VIR_DOMAIN_SHUTOFF_DESTROYED:
            return "its VM was stopped from the host (when it could not hibernate or restore, "
                   "or from outside the library); wake boots it again from its disk";
        default:
            return NULL;
        }
    case VIR_DOMAIN_PAUSED:
        switch (reason) {
        case VIR_DOMAIN_PAUSED_IOERROR:
            return "QEMU paused it on a disk I/O error (is the filesystem of the state directory "
                   "full?); free space and wake it, or kill it";
        case VIR_DOMAIN_PAUSED_CRASHED:
            return "the guest kernel crashed; kill it";
        default:
            return NULL;
        }
    case VIR_DOMAIN_CRASHED:
        return "the guest kernel crashed; kill it";
    default:
        return NULL;
    }
}

int virt_get_state(virDomainPtr dom, const char **why, GError **error)
{
    int state, reason;

    if (why)
        *why = NULL;
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
            g_set_error(error, OC_ERROR, OC_ENOTFOUND, "sandbox %s no longer exists",
                        virDomainGetName(dom));
        else
            virt_set_error(error, OC_EVIRT, "cannot read the state of sandbox %s",
                           virDomainGetName(dom));
        return -1;
    }
    if (why)
        *why = state_reason(state, reason);
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return OC_STATE_RUNNING;
    case VIR_DOMAIN_PAUSED:
        /* Our own operations pause it only for a moment; QEMU's pauses on a
         * disk error or a guest crash last until someone acts. */
        return reason == VIR_DOMAIN_PAUSED_IOERROR || reason == VIR_DOMAIN_PAUSED_CRASHED
                   ? OC_STATE_ERROR : OC_STATE_RUNNING;
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_SHUTDOWN:
        if (virDomainHasManagedSaveImage(dom, 0) != 1)
            return OC_STATE_STOPPED;
        if (why)
            *why = NULL; /* a hibernated domain is shut off, saved */
        /* Hibernated only once the image is durable, even if the process
         * that hibernated died before it could sync: syncing a synced file
         * costs next to nothing. */
        if (!virt_sync_save_image(dom, error))
            return -1;
        return OC_STATE_HIBERNATED;
    default:
        return OC_STATE_ERROR;
    }
}

static char *xml_desc(virDomainPtr dom, unsigned int flags, GError **error)
{
    char *xml = virDomainGetXMLDesc(dom, flags);

    if (!xml)
        virt_set_error(error, OC_EVIRT, "cannot read the definition of sandbox %s",
                       virDomainGetName(dom));
    return xml;
}

GPtrArray *virt_agent_sockets(virDomainPtr dom, GError **error)
{
    g_autofree char *xml = xml_desc(dom, 0, error);
    return xml ? virt_domain_xml_agent_sockets(xml, error) : NULL;
}

char *virt_domain_disk_path(virDomainPtr dom, GError **error)
{
    g_autofree char *xml = xml_desc(dom, 0, error);
    return xml ? virt_domain_xml_disk_path(xml, error) : NULL;
}

char *virt_domain_migratable_xml(virDomainPtr dom, GError **error)
{
    return xml_desc(dom, VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE, error);
}

static void domain_free(gpointer dom)
{
    virDomainFree(dom);
}

static gboolean looks_like_sandbox_id(const char *name)
{
    return g_str_has_prefix(name, "sb-");
}

GPtrArray *virt_list_sandboxes(virConnectPtr conn, GError **error)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_PERSISTENT);
    GPtrArray *out;

    if (n < 0) {
        virt_set_error(error, OC_EVIRT, "cannot list domains");
        return NULL;
    }
    out = g_ptr_array_new_with_free_func(domain_free);
    for (int i = 0; i < n; i++) {
        if (looks_like_sandbox_id(virDomainGetName(doms[i])))
            g_ptr_array_add(out, doms[i]);
        else
            virDomainFree(doms[i]);
    }
    free(doms);
    return out;
}
