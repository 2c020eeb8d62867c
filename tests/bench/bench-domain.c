/* bench-domain.c: the bench domain, made with raw libvirt: its XML, the raw
 * virtio-serial floor inside it, the agent's first byte, and the create
 * floor. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "bench.h"
#include "oc-proto.h"
#include "virt/domain.h"
#include "virt/overlay.h"
#include "virt/record.h"

/* ---- our agent in the bench domain ---- */

/* Runs sh -c cmd in the bench domain through our agent. */
gboolean bench_guest_sh(AgentConn *conn, const char *cmd, guint timeout_ms, AgentExecResult *res,
                        GError **error)
{
    static const char *const env[] = { GUEST_PATH_ENV, "HOME=/root", NULL };
    AgentExecRequest req = {
        .command = cmd, .env = env, .timeout_ms = timeout_ms, .max_output = 1u << 20,
    };
    memset(res, 0, sizeof *res);
    return agent_exec_run(conn, &req, res, error);
}

char *bench_res_text(GByteArray *b)
{
    return g_strstrip(g_strndup((const char *)b->data, b->len));
}

/* ---- domain XML ---- */

char *bench_channel_path(virDomainPtr dom, const char *name)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    char *path;

    if (!xml)
        return NULL;
    path = virt_domain_xml_channel_path(xml, name, NULL);
    free(xml);
    return path;
}

/* The library's own domain XML (lib/virt/domain-xml.c), under a name that
 * does not look like a sandbox id, optionally with the peer's channels. */
char *bench_domain_xml(const char *name, const char *disk, const char *log, gboolean extra)
{
    g_autoptr(VirtRecord) rec = virt_record_new();
    rec->id = g_strdup(name);
    rec->template_name = g_strdup("base");
    rec->created = g_get_real_time() / G_USEC_PER_SEC;
    rec->timeout_s = 0;
    rec->cpu_count = OC_DEFAULT_CPU_COUNT;
    rec->memory_mb = BENCH_MEMORY_MB;
    VirtDomainSpec ds = {
        .domain_type = bench_boot.domain_type, .kernel = bench_boot.kernel, .initrd = bench_boot.initrd,
        .disk = disk, .console_log = log, .record = rec, .nic = TRUE,
    };
    char *xml = virt_domain_xml(&ds);
    if (!extra)
        return xml;
    static const char chans[] =
        "    <channel type='unix'>\n"
        "      <source mode='bind'/>\n"
        "      <target type='virtio' name='" QGA_PORT "'/>\n"
        "    </channel>\n"
        "    <channel type='unix'>\n"
        "      <source mode='bind'/>\n"
        "      <target type='virtio' name='" RAW_PORT "'/>\n"
        "    </channel>\n";
    const char *at = strstr(xml, "    <serial");
    if (!at)
        at = strstr(xml, "  </devices>");
    g_assert(at);
    GString *s = g_string_new_len(xml, at - xml);
    g_string_append(s, chans);
    g_string_append(s, at);
    g_free(xml);
    return g_string_free(s, FALSE);
}

/* Connects to a unix socket, retrying until it exists and listens. */
static int unix_connect(const char *path, double timeout_s)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    double deadline = bench_now() + timeout_s;
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        int e = errno;
        close(fd);
        if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) || bench_now() > deadline) {
            errno = e;
            return -1;
        }
        g_usleep(500);
    }
}

/* ---- 1+2 (floor and peer): the bench domain; the peer is in bench-qga.c ---- */

typedef struct {
    AgentConn *conn;
    char *cmd;
    AgentExecResult res;
    GError *error;
    gboolean ok;
    double done;
} ExecJob;

static gpointer exec_job(gpointer data)
{
    ExecJob *j = data;
    j->ok = bench_guest_sh(j->conn, j->cmd, 120000, &j->res, &j->error);
    j->done = bench_now();
    return NULL;
}

static gboolean job_ok(ExecJob *j, const char *what)
{
    if (!j->ok) {
        bench_note("%s: %s", what, j->error ? j->error->message : "failed");
        return FALSE;
    }
    if (j->res.exit_code != 0) {
        g_autofree char *err = bench_res_text(j->res.err);
        bench_note("%s: exit %d: %s", what, j->res.exit_code, err);
        return FALSE;
    }
    return TRUE;
}

static char *dd_summary(GByteArray *err)
{
    g_autofree char *t = bench_res_text(err);
    char *nl = strrchr(t, '\n');
    return g_strdup(nl ? nl + 1 : t);
}

/* ---- the raw port ---- */

/* Waits for the "x" the guest prints once it holds the port open (so no
 * data is dropped); otherwise unblocks and joins the guest job t. */
static gboolean raw_wait_open(int rawfd, GThread *t, const char *what, const char *dev)
{
    struct pollfd p = { .fd = rawfd, .events = POLLIN };
    char c = 0;

    if (poll(&p, 1, 30000) == 1 && read(rawfd, &c, 1) == 1 && c == 'x')
        return TRUE;
    bench_note("%s: the guest did not open %s", what, dev);
    shutdown(rawfd, SHUT_RDWR);
    g_thread_join(t);
    return FALSE;
}

/* Writes len bytes to the socket: src over and over (len is a multiple of
 * src_len). */
static void raw_write_all(int rawfd, const guint8 *src, gsize src_len, gsize len, const char *what)
{
    for (gsize off = 0; off < len;) {
        gsize at = off % src_len;
        ssize_t n = write(rawfd, src + at, MIN(MIN(src_len - at, (gsize)1 << 20), len - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            bench_note("%s: write: %s", what, g_strerror(errno));
            break;
        }
        off += n;
    }
}

/* One read of at most max bytes, waiting up to 60 s; 0 (noted) once
 * nothing more comes. */
static gsize raw_read_some(int rawfd, guint8 *buf, gsize max, gsize got, const char *what)
{
    for (;;) {
        struct pollfd p = { .fd = rawfd, .events = POLLIN };
        if (poll(&p, 1, 60000) != 1) {
            bench_note("%s: no data for 60 s after %zu bytes", what, got);
            return 0;
        }
        ssize_t n = read(rawfd, buf, max);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            bench_note("%s: read: %s", what, n < 0 ? g_strerror(errno) : "EOF");
            return 0;
        }
        return (gsize)n;
    }
}

/* host -> guest: guest opens the port, says "x", then dd reads N MiB. */
static double raw_h2g(AgentConn *conn, int rawfd, const char *dev, char **dd_out)
{
    gsize len = (gsize)opt_file_mib << 20;
    ExecJob j = { .conn = conn };
    j.cmd = g_strdup_printf("exec 3<>%s; printf x >&3; "
                            "dd of=/dev/null bs=1M count=%d iflag=fullblock <&3", dev, opt_file_mib);
    GThread *t = g_thread_new("raw-h2g", exec_job, &j);
    double rate = -1;
    if (!raw_wait_open(rawfd, t, "raw h2g", dev))
        goto out;
    static guint8 zeros[1 << 20];
    double t0 = bench_now();
    raw_write_all(rawfd, zeros, sizeof zeros, len, "raw h2g");
    g_thread_join(t);
    if (job_ok(&j, "raw h2g dd")) {
        rate = len / MIB / (j.done - t0);
        *dd_out = dd_summary(j.res.err);
    }
out:
    agent_exec_result_clear(&j.res);
    g_clear_error(&j.error);
    g_free(j.cmd);
    return rate;
}

/* guest -> host: dd writes N MiB of zeros to the port; timed from the first
 * byte to the last, over the bytes after the first read. */
static double raw_g2h(AgentConn *conn, int rawfd, const char *dev, char **dd_out)
{
    gsize len = (gsize)opt_file_mib << 20;
    ExecJob j = { .conn = conn };
    j.cmd = g_strdup_printf("dd if=/dev/zero of=%s bs=1M count=%d", dev, opt_file_mib);
    GThread *t = g_thread_new("raw-g2h", exec_job, &j);
    g_autofree guint8 *buf = g_malloc(1 << 20);
    gsize got = 0, first = 0;
    double t_first = 0, t_last = 0, rate = -1;
    while (got < len) {
        gsize n = raw_read_some(rawfd, buf, MIN((gsize)(1 << 20), len - got), got, "raw g2h");
        if (n == 0)
            break;
        if (got == 0) {
            t_first = bench_now();
            first = n;
        }
        got += n;
        t_last = bench_now();
    }
    if (got < len)
        shutdown(rawfd, SHUT_RDWR);
    g_thread_join(t);
    if (job_ok(&j, "raw g2h dd") && got == len) {
        rate = (len - first) / MIB / (t_last - t_first);
        *dd_out = dd_summary(j.res.err);
    }
    agent_exec_result_clear(&j.res);
    g_clear_error(&j.error);
    g_free(j.cmd);
    return rate;
}

typedef struct {
    int fd;
    const guint8 *data;
    gsize len;
} RawWriter;

static gpointer raw_writer(gpointer data)
{
    RawWriter *w = data;
    raw_write_all(w->fd, w->data, w->len, w->len, "raw echo");
    return NULL;
}

/* Both ways at once, the floor of cat through a session: the guest echoes
 * the port back to itself with dd (64 KiB blocks, a pipe's capacity) while
 * one host thread writes N MiB and this one reads them back; timed from the
 * first write to the last byte back. */
static double raw_echo(AgentConn *conn, int rawfd, const char *dev, const guint8 *data)
{
    gsize len = (gsize)opt_file_mib << 20, got = 0;
    ExecJob j = { .conn = conn };
    j.cmd = g_strdup_printf("exec 3<>%s; printf x >&3; "
                            "dd bs=64K count=%d iflag=fullblock <&3 >&3", dev, opt_file_mib * 16);
    GThread *t = g_thread_new("raw-echo", exec_job, &j);
    g_autofree guint8 *buf = g_malloc(1 << 20);
    double rate = -1, t0 = 0, t_last = 0;
    gboolean same = TRUE;
    if (!raw_wait_open(rawfd, t, "raw echo", dev))
        goto out;
    RawWriter w = { rawfd, data, len };
    t0 = bench_now();
    GThread *wt = g_thread_new("raw-echo-w", raw_writer, &w);
    while (got < len) {
        gsize n = raw_read_some(rawfd, buf, MIN((gsize)(1 << 20), len - got), got, "raw echo");
        if (n == 0)
            break;
        same = same && memcmp(buf, data + got, n) == 0;
        got += n;
        t_last = bench_now();
    }
    if (got < len)
        shutdown(rawfd, SHUT_RDWR);
    g_thread_join(wt);
    g_thread_join(t);
    if (!same)
        bench_note("raw echo: the bytes that came back differ from those sent");
    else if (job_ok(&j, "raw echo dd") && got == len)
        rate = len / MIB / (t_last - t0);
out:
    agent_exec_result_clear(&j.res);
    g_clear_error(&j.error);
    g_free(j.cmd);
    return rate;
}

static void raw_echo_reps(AgentConn *conn, int rawfd, const char *dev)
{
    g_autofree guint8 *data = bench_pattern((gsize)opt_file_mib << 20, 3);

    for (int i = 0; i < opt_reps; i++) {
        double v = raw_echo(conn, rawfd, dev, data);
        if (v < 0) {
            bench_results.raw_echo_status = g_strdup("raw echo transfer failed");
            return;
        }
        bench_push(bench_results.raw_echo_mibs, v);
    }
    bench_note("bench domain: raw echo %.1f MiB/s", bench_median(bench_results.raw_echo_mibs));
}

gboolean bench_domain(virConnectPtr vc, GMainContext *loop_ctx)
{
    g_autofree char *name = g_strdup_printf("ocbench-%d-peer", (int)getpid());
    g_autofree char *disk = g_build_filename(bench_tmpdir, "peer.qcow2", NULL);
    g_autofree char *log = g_build_filename(bench_tmpdir, "peer-console.log", NULL);
    g_autofree char *agent_sock = NULL, *raw_sock = NULL, *ports = NULL;
    g_autofree char *raw_dev = NULL, *qga_dev = NULL, *xml = NULL;
    GError *err = NULL;
    AgentConn *conn = NULL;
    AgentExecResult res = { 0 };
    virDomainPtr dom = NULL;
    int rawfd = -1;

    if (!virt_overlay_create(disk, bench_boot.template_disk, &err)) {
        bench_note("bench domain: %s", err->message);
        bench_results.floor_status = g_strdup("overlay creation failed");
        goto out;
    }
    xml = bench_domain_xml(name, disk, log, TRUE);
    bench_track_domain(name);
    bench_note("bench domain: starting %s", name);
    double t0 = bench_now();
    dom = virDomainCreateXML(vc, xml, 0);
    if (!dom) {
        bench_note("bench domain: virDomainCreateXML: %s", bench_virt_msg());
        bench_results.floor_status = g_strdup("virDomainCreateXML failed");
        goto out;
    }
    agent_sock = bench_channel_path(dom, VIRT_AGENT_PORT);
    raw_sock = bench_channel_path(dom, RAW_PORT);
    if (!agent_sock || !raw_sock) {
        bench_note("bench domain: no socket path for %s or %s in the live XML", VIRT_AGENT_PORT, RAW_PORT);
        bench_results.floor_status = g_strdup("channel sockets missing from the live XML");
        goto out;
    }
    /* The host end of oc.raw is connected before the guest opens the port. */
    rawfd = unix_connect(raw_sock, 10);
    if (rawfd < 0) {
        bench_note("bench domain: connect %s: %s", raw_sock, g_strerror(errno));
        bench_results.floor_status = g_strdup("cannot connect to the oc.raw socket");
        goto out;
    }
    int big = 4 << 20;
    setsockopt(rawfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(rawfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);

    conn = agent_conn_open(agent_sock, loop_ctx, 120000, &err);
    if (!conn) {
        bench_note("bench domain: agent: %s (console: %s)", err->message, log);
        bench_results.floor_status = g_strdup("the agent did not answer in the bench domain");
        goto out;
    }
    bench_note("bench domain: agent up in %.2f s (%s)", bench_now() - t0, agent_conn_agent_version(conn));

    if (!bench_guest_sh(conn, "for d in /sys/class/virtio-ports/*; do "
                        "printf '%s %s\\n' \"$(cat $d/name)\" \"${d##*/}\"; done",
                  30000, &res, &err) || res.exit_code != 0) {
        bench_note("bench domain: listing virtio ports failed: %s", err ? err->message : "exit != 0");
        bench_results.floor_status = g_strdup("cannot list /sys/class/virtio-ports");
        goto out;
    }
    ports = bench_res_text(res.out);
    agent_exec_result_clear(&res);
    {
        g_auto(GStrv) lines = g_strsplit(ports, "\n", -1);
        for (int i = 0; lines[i]; i++) {
            g_auto(GStrv) f = g_strsplit(lines[i], " ", 2);
            if (!f[0] || !f[1])
                continue;
            if (g_str_equal(f[0], RAW_PORT))
                raw_dev = g_strdup_printf("/dev/%s", f[1]);
            else if (g_str_equal(f[0], QGA_PORT))
                qga_dev = g_strdup_printf("/dev/%s", f[1]);
        }
    }

    /* floor: raw virtio-serial */
    if (!raw_dev) {
        bench_note("bench domain: no %s port in the guest: %s", RAW_PORT, ports);
        bench_results.floor_status = g_strdup("oc.raw port not found in the guest");
    } else {
        bench_note("bench domain: raw port %s", raw_dev);
        const struct {
            double (*run)(AgentConn *, int, const char *, char **);
            const char *what;
            GArray *mibs;
            char **dd;
        } dirs[] = {
            { raw_h2g, "host->guest", bench_results.raw_h2g_mibs, &bench_results.raw_h2g_dd },
            { raw_g2h, "guest->host", bench_results.raw_g2h_mibs, &bench_results.raw_g2h_dd },
        };
        for (int i = 0; i < opt_reps && !bench_results.floor_status; i++) {
            for (size_t d = 0; d < G_N_ELEMENTS(dirs) && !bench_results.floor_status; d++) {
                char *dd = NULL;
                double v = dirs[d].run(conn, rawfd, raw_dev, &dd);
                if (v < 0) {
                    bench_results.floor_status =
                        g_strdup_printf("raw %s transfer failed", dirs[d].what);
                    break;
                }
                bench_push(dirs[d].mibs, v);
                g_free(*dirs[d].dd);
                *dirs[d].dd = dd;
            }
        }
        bench_note("bench domain: raw h2g %.1f MiB/s, g2h %.1f MiB/s",
                   bench_median(bench_results.raw_h2g_mibs), bench_median(bench_results.raw_g2h_mibs));
        if (!bench_results.floor_status && !opt_skip_stream)
            raw_echo_reps(conn, rawfd, raw_dev);
    }

    /* peer: qemu-guest-agent */
    bench_qga_peer(dom, conn, qga_dev);

out:
    g_clear_error(&err);
    if (conn)
        agent_conn_close(conn);
    if (rawfd >= 0)
        close(rawfd);
    if (dom)
        virDomainFree(dom);
    bench_untrack_domain(vc, name);
    unlink(disk);
    unlink(log);
    return TRUE;
}

/* ---- the agent's first byte ---- */

/* Sends a HELLO frame (built with the protocol's own writer) to the agent
 * socket of the running domain every 50 ms until a byte comes back.
 * Returns when it came (bench_now()), or <0 if none came by deadline. */
double bench_agent_first_byte(virDomainPtr dom, double deadline, const char *log)
{
    g_autofree char *sock = bench_channel_path(dom, VIRT_AGENT_PORT);
    guint8 fields[128], frame[OC_PROTO_HEADER_SIZE + 128];
    oc_proto_writer w;
    double result = -1;
    int fd;

    if (!sock) {
        bench_note("floor: no agent socket in the live XML");
        return -1;
    }
    oc_proto_writer_init(&w, fields, sizeof fields);
    oc_proto_put_u32(&w, OC_F_VERSION_MIN, OC_PROTO_VERSION);
    oc_proto_put_u32(&w, OC_F_VERSION_MAX, OC_PROTO_VERSION);
    oc_proto_put_u64(&w, OC_F_NONCE, ((guint64)g_random_int() << 32) | g_random_int());
    oc_proto_put_u64(&w, OC_F_TIME_NS, (guint64)g_get_real_time() * 1000);
    g_assert(!w.overflow);
    size_t flen = oc_proto_frame(frame, OC_T_HELLO, 0, 0, fields, (uint32_t)w.len);

    fd = unix_connect(sock, 30);
    if (fd < 0) {
        bench_note("floor: connect %s: %s", sock, g_strerror(errno));
        return -1;
    }
    for (;;) {
        if (write(fd, frame, flen) != (ssize_t)flen) {
            bench_note("floor: write HELLO: %s", g_strerror(errno));
            break;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 50) == 1) {
            guint8 b;
            double t = bench_now();
            if (read(fd, &b, 1) != 1)
                bench_note("floor: the agent socket closed");
            else
                result = t;
            break;
        }
        if (bench_now() > deadline) {
            bench_note("floor: no byte from the agent in time (console: %s)", log);
            break;
        }
    }
    close(fd);
    return result;
}

/* ---- 3 (floor): create to the agent's first byte ---- */

/* Returns seconds from virDomainCreateXML to the agent's first byte, <0 on failure. */
double bench_floor_create_once(virConnectPtr vc, int i)
{
    g_autofree char *name = g_strdup_printf("ocbench-%d-floor-%d", (int)getpid(), i);
    g_autofree char *disk = g_strdup_printf("%s/floor-%d.qcow2", bench_tmpdir, i);
    g_autofree char *log = g_strdup_printf("%s/floor-%d-console.log", bench_tmpdir, i);
    GError *err = NULL;
    double result = -1;
    virDomainPtr dom = NULL;

    double o0 = bench_now();
    if (!virt_overlay_create(disk, bench_boot.template_disk, &err)) {
        bench_note("floor: %s", err->message);
        g_clear_error(&err);
        return -1;
    }
    bench_push(bench_results.floor_overlay_s, bench_now() - o0);
    g_autofree char *xml = bench_domain_xml(name, disk, log, FALSE);

    bench_track_domain(name);
    double t0 = bench_now();
    dom = virDomainCreateXML(vc, xml, 0);
    if (!dom) {
        bench_note("floor: virDomainCreateXML: %s", bench_virt_msg());
        goto out;
    }
    bench_push(bench_results.floor_createxml_s, bench_now() - t0);
    double t1 = bench_agent_first_byte(dom, t0 + 180, log);
    if (t1 >= 0)
        result = t1 - t0;
out:
    if (dom)
        virDomainFree(dom);
    bench_untrack_domain(vc, name);
    unlink(disk);
    unlink(log);
    return result;
}
