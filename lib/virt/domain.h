/* domain.h: libvirt domains for sandboxes: XML, lifecycle, metadata. */
#ifndef OC_VIRT_DOMAIN_H
#define OC_VIRT_DOMAIN_H

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "virt/record.h"

#define VIRT_AGENT_PORT "oc.agent"
/* Agent ports of a new domain: VIRT_AGENT_PORT, then "oc.agent.1" and on,
 * each its own socket, so that as many host processes can talk to the
 * agent at once. */
#define VIRT_AGENT_PORTS 4
/* Bumped whenever virt_domain_xml() changes what the guest sees: a save
 * image of an older definition may not restore into a newer one. */
#define VIRT_DOMAIN_XML_VERSION 3

typedef struct {
    const char *domain_type;   /* "kvm" or "qemu" (TCG) */
    const char *kernel;
    const char *initrd;
    const char *disk;          /* the sandbox's qcow2 overlay */
    const char *console_log;   /* serial console goes here, for diagnosis */
    const VirtRecord *record;  /* name, sizes, metadata */
    const char *uuid;          /* NULL: libvirt makes one; set to redefine a domain */
    /* A virtio NIC on a user-mode network (docs/network.md).  A domain
     * resumed from a save image must have the devices the image was saved
     * with: virt_save_image_has_nic() tells. */
    gboolean nic;
} VirtDomainSpec;

char *virt_domain_xml(const VirtDomainSpec *spec);
/* Path of the unix socket behind a virtio-serial port (VIRT_AGENT_PORT for
 * the agent), from a running domain's XML: libvirt picks it at start. */
char *virt_domain_xml_channel_path(const char *live_xml, const char *port, GError **error);
/* The source file of the domain's disk (its active overlay), from its XML. */
char *virt_domain_xml_disk_path(const char *xml, GError **error);
char *virt_domain_disk_path(virDomainPtr dom, GError **error);
/* XML for virt_restore_as(): the migratable definition of a defined domain. */
char *virt_domain_migratable_xml(virDomainPtr dom, GError **error);
/* Port n's name (g_free). */
char *virt_agent_port_name(guint port);
/* The sockets of the agent ports (g_free'd strings), port 0 first, from a
 * running domain's XML: as many as the domain has, at least port 0 (or NULL
 * with error).  virt_agent_sockets() reads the XML first. */
GPtrArray *virt_domain_xml_agent_sockets(const char *live_xml, GError **error);
GPtrArray *virt_agent_sockets(virDomainPtr dom, GError **error);

/* Sets error from libvirt's last error, prefixed by what we were doing.
 * A macro, so that libvirt's message is read before the arguments are
 * evaluated: any libvirt call among them (virDomainGetName()) resets it. */
#define virt_set_error(error, code, ...)                                       \
    do {                                                                       \
        g_autofree char *virt_why_ = g_strdup(virGetLastErrorMessage());       \
        virt_set_error_why((error), (code), virt_why_, __VA_ARGS__);           \
    } while (0)
void virt_set_error_why(GError **error, int code, const char *why, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

/* OC_ENOTFOUND with a message naming the id when there is no such domain. */
virDomainPtr virt_lookup(virConnectPtr conn, const char *id, GError **error);
virDomainPtr virt_define(virConnectPtr conn, const char *xml, GError **error);
gboolean virt_start(virDomainPtr dom, GError **error);
/* Stops the domain's VM if it runs (its definition stays). */
gboolean virt_stop(virDomainPtr dom, GError **error);
/* Stops (if running) and undefines the domain, with its managed save. */
gboolean virt_remove(virDomainPtr dom, GError **error);

VirtRecord *virt_get_record(virDomainPtr dom, GError **error);
/* Rewrites the record in the persistent config, and in the live one too
 * when the domain runs. */
gboolean virt_set_record(virDomainPtr dom, const VirtRecord *rec, GError **error);

/* One of oc_sandbox_state.  why (nullable) receives what a user should
 * know about it (a static string, as libvirt's reason for the state: QEMU
 * killed, a disk error, a guest crash) or NULL. */
int virt_get_state(virDomainPtr dom, const char **why, GError **error);

/* Every domain whose name looks like a sandbox id. */
GPtrArray *virt_list_sandboxes(virConnectPtr conn, GError **error);

#endif
