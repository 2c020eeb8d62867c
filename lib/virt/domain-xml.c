/* domain-xml.c: the domain definition of a sandbox, and reading back what
 * libvirt filled in when it started. */
#include "virt/domain.h"

#include <string.h>

#include "util/error.h"

char *virt_agent_port_name(guint port)
{
    return port ? g_strdup_printf(VIRT_AGENT_PORT ".%u", port) : g_strdup(VIRT_AGENT_PORT);
}

/* One channel per agent port: QEMU serves one client per socket, and each
 * port is an independent connection to the agent (docs/protocol.md). */
static void append_agent_channels(GString *x)
{
    for (guint i = 0; i < VIRT_AGENT_PORTS; i++) {
        g_autofree char *name = virt_agent_port_name(i);
        g_string_append_printf(x,
            "    <channel type='unix'>\n"
            "      <source mode='bind'/>\n"
            "      <target type='virtio' name='%s'/>\n"
            "    </channel>\n", name);
    }
}

char *virt_domain_xml(const VirtDomainSpec *s)
{
    const VirtRecord *r = s->record;
    g_autofree char *meta = virt_record_to_xml(r);
    g_autofree char *kernel = g_markup_escape_text(s->kernel, -1);
    g_autofree char *initrd = g_markup_escape_text(s->initrd, -1);
    g_autofree char *disk = g_markup_escape_text(s->disk, -1);
    g_autofree char *log = g_markup_escape_text(s->console_log, -1);
    GString *x = g_string_new(NULL);

    /* At define time the element carries its namespace itself (as the
     * default namespace, so its children are in it too). */
    g_string_append_printf(x,
        "<domain type='%s'>\n"
        "  <name>%s</name>\n", s->domain_type, r->id);
    if (s->uuid)
        g_string_append_printf(x, "  <uuid>%s</uuid>\n", s->uuid);
    g_string_append_printf(x,
        /* A generation id: a guest kernel that watches it reseeds its RNG
         * when it changes, as it does for every fork and restore.  (The
         * agent reseeds too, for kernels that do not.) */
        "  <genid/>\n"
        "  <metadata>\n"
        "<sandbox xmlns='" VIRT_META_URI "'%s", meta + strlen("<sandbox"));
    g_string_append_printf(x,
        "  </metadata>\n"
        "  <memory unit='MiB'>%u</memory>\n"
        "  <vcpu>%u</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64' machine='pc'>hvm</type>\n"
        "    <kernel>%s</kernel>\n"
        "    <initrd>%s</initrd>\n"
        /* quiet: every console byte costs a VM exit; the agent mounts root */
        "    <cmdline>console=ttyS0 quiet loglevel=3 root=/dev/vda rw oc.id=%s%s</cmdline>\n"
        "  </os>\n"
        "  <features><acpi/></features>\n"
        "  <clock offset='utc'/>\n"
        "  <on_poweroff>destroy</on_poweroff>\n"
        "  <on_reboot>destroy</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n"
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
        "      <source file='%s'/>\n"
        "      <target dev='vda' bus='virtio'/>\n"
        "    </disk>\n",
        r->memory_mb, r->cpu_count, kernel, initrd, r->id,
        /* TCG looks translated code up by virtual address, so with ASLR
         * every new process translates glibc again: 35-50 ms per exec
         * against ~10 ms without.  TCG is no security boundary anyway;
         * under KVM the guest keeps ASLR. */
        g_str_equal(s->domain_type, "qemu") ? " norandmaps" : "",
        disk);
    append_agent_channels(x);
    if (s->nic)
        g_string_append(x,
            /* libslirp in the QEMU process: no bridge, no host setup, and
             * every guest connection is a socket of that process, where
             * the host can police it.  No option ROM: the kernel is booted
             * directly, and the ROM would be in every save image. */
            "    <interface type='user'>\n"
            "      <model type='virtio'/>\n"
            "      <rom enabled='no'/>\n"
            "    </interface>\n");
    g_string_append_printf(x,
        "    <serial type='null'>\n"
        "      <log file='%s' append='off'/>\n"
        "    </serial>\n"
        "    <controller type='usb' model='none'/>\n"
        "    <memballoon model='none'/>\n"
        "  </devices>\n"
        "</domain>\n", log);
    return g_string_free(x, FALSE);
}

typedef struct {
    gboolean in_disk;
    int depth;   /* inside the <disk>: 1 for its children */
    char *found;
} DiskScan;

static const char *attr(const char **names, const char **values, const char *key);

static void disk_start(GMarkupParseContext *pc, const char *el, const char **names,
                       const char **values, gpointer data, GError **error)
{
    DiskScan *s = data;

    if (!s->in_disk) {
        s->in_disk = g_str_equal(el, "disk");
        s->depth = 0;
        return;
    }
    /* The disk's own <source>, not those inside <backingStore>. */
    if (++s->depth == 1 && !s->found && g_str_equal(el, "source") && attr(names, values, "file"))
        s->found = g_strdup(attr(names, values, "file"));
}

static void disk_end(GMarkupParseContext *pc, const char *el, gpointer data, GError **error)
{
    DiskScan *s = data;

    if (s->in_disk && s->depth-- == 0)
        s->in_disk = FALSE;
}

char *virt_domain_xml_disk_path(const char *xml, GError **error)
{
    static const GMarkupParser parser = { disk_start, disk_end, NULL, NULL, NULL };
    DiskScan s = { 0 };
    GMarkupParseContext *pc = g_markup_parse_context_new(&parser, 0, &s, NULL);

    g_markup_parse_context_parse(pc, xml, -1, NULL);
    g_markup_parse_context_free(pc);
    if (!s.found)
        g_set_error(error, OC_ERROR, OC_EVIRT, "the domain has no disk with a source file");
    return s.found;
}

typedef struct {
    const char *port;  /* the virtio-serial port name we look for */
    int in_channel;    /* depth inside <channel> */
    char *path;        /* source path of the current channel */
    gboolean is_agent; /* current channel targets our port */
    char *found;
} ChannelScan;

static const char *attr(const char **names, const char **values, const char *key)
{
    for (int i = 0; names[i]; i++)
        if (g_str_equal(names[i], key))
            return values[i];
    return NULL;
}

static void scan_start(GMarkupParseContext *pc, const char *el, const char **names,
                       const char **values, gpointer data, GError **error)
{
    ChannelScan *s = data;

    if (g_str_equal(el, "channel")) {
        s->in_channel = 1;
        s->is_agent = FALSE;
        g_clear_pointer(&s->path, g_free);
        return;
    }
    if (!s->in_channel)
        return;
    if (g_str_equal(el, "source") && attr(names, values, "path"))
        s->path = g_strdup(attr(names, values, "path"));
    else if (g_str_equal(el, "target") && g_strcmp0(attr(names, values, "name"), s->port) == 0)
        s->is_agent = TRUE;
}

static void scan_end(GMarkupParseContext *pc, const char *el, gpointer data, GError **error)
{
    ChannelScan *s = data;

    if (!g_str_equal(el, "channel"))
        return;
    if (s->is_agent && s->path && !s->found)
        s->found = g_steal_pointer(&s->path);
    s->in_channel = 0;
    g_clear_pointer(&s->path, g_free);
}

char *virt_domain_xml_channel_path(const char *live_xml, const char *port, GError **error)
{
    static const GMarkupParser parser = { scan_start, scan_end, NULL, NULL, NULL };
    ChannelScan s = { .port = port };
    GMarkupParseContext *pc = g_markup_parse_context_new(&parser, 0, &s, NULL);
    GError *perr = NULL;

    if (!g_markup_parse_context_parse(pc, live_xml, -1, &perr))
        g_clear_error(&perr); /* tolerate what GMarkup dislikes; we need one element */
    g_markup_parse_context_free(pc);
    g_free(s.path);
    if (!s.found)
        g_set_error(error, OC_ERROR, OC_EVIRT, "the domain has no unix socket for the '%s' channel",
                    port);
    return s.found;
}

GPtrArray *virt_domain_xml_agent_sockets(const char *live_xml, GError **error)
{
    char *path = virt_domain_xml_channel_path(live_xml, VIRT_AGENT_PORT, error);
    GPtrArray *paths;

    if (!path)
        return NULL;
    paths = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(paths, path);
    /* A domain defined before there were several ports has only port 0. */
    for (guint i = 1; i < VIRT_AGENT_PORTS; i++) {
        g_autofree char *name = virt_agent_port_name(i);
        if (!(path = virt_domain_xml_channel_path(live_xml, name, NULL)))
            break;
        g_ptr_array_add(paths, path);
    }
    return paths;
}
