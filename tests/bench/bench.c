/* bench.c: oc-bench, libopencomputer against its floors and its peer.
 *
 * One run, one host, one template image, three comparisons:
 *
 *  1. exec "true":       ours (oc_exec_run on a library sandbox) against
 *                        qemu-guest-agent through libvirt (guest-exec, then
 *                        guest-exec-status polled until it exited).
 *  2. file write/read:   ours (oc_files_write/oc_files_read, 64 MiB) against
 *                        raw virtio-serial throughput (port "oc.raw", dd in
 *                        the guest) and qemu-guest-agent's guest-file-*.
 *  3. create->first exec: ours (oc_sandbox_create + oc_exec_run) against a
 *                        transient libvirt domain of the same XML, timed
 *                        until the agent's first byte on its socket.
 *
 * The floor and the peer run in a "bench domain" that this program creates
 * with raw libvirt (the library's own XML plus two channels), since the
 * library must not grow bench-only knobs.  Inside it, our agent is spoken to
 * with lib/agent's host client to start qemu-ga and dd.
 *
 * Nothing here asserts a time: targets are printed as PASS/MISS for
 * information and the exit code is 0 whenever the measurements ran.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "agent/agent.h"
#include "image/store.h"
#include "oc-proto.h"
#include "opencomputer.h"
#include "util/error.h"
#include "virt/domain.h"
#include "virt/overlay.h"
#include "virt/record.h"

#define MIB (1024.0 * 1024.0)
#define RAW_PORT "oc.raw"
#define QGA_PORT "org.qemu.guest_agent.0"
#define GUEST_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- options ---- */

static char *opt_uri = NULL;
static char *opt_state_dir = NULL;
static char *opt_json = NULL;
static int opt_exec_n = 50;
static int opt_exec_warmup = 3;
static int opt_create_n = 3;
static int opt_file_mib = 64;
static int opt_peer_file_mib = 8;
static int opt_reps = 3;
static gboolean opt_skip_create = FALSE;
static gboolean opt_skip_peer_domain = FALSE;

static GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_FILENAME, &opt_json, "Also write every raw number to FILE", "FILE" },
    { "uri", 'c', 0, G_OPTION_ARG_STRING, &opt_uri, "libvirt URI (default qemu:///system)", "URI" },
    { "state-dir", 's', 0, G_OPTION_ARG_FILENAME, &opt_state_dir,
      "State directory (default $OC_STATE_DIR or " OC_DEFAULT_STATE_DIR ")", "DIR" },
    { "exec-n", 'n', 0, G_OPTION_ARG_INT, &opt_exec_n, "Timed exec runs per side (50)", "N" },
    { "create-n", 0, 0, G_OPTION_ARG_INT, &opt_create_n, "Timed creates per side (3)", "N" },
    { "file-mib", 0, 0, G_OPTION_ARG_INT, &opt_file_mib, "File/raw transfer size in MiB (64)", "MIB" },
    { "peer-file-mib", 0, 0, G_OPTION_ARG_INT, &opt_peer_file_mib,
      "qemu-guest-agent file transfer size in MiB (8)", "MIB" },
    { "reps", 0, 0, G_OPTION_ARG_INT, &opt_reps, "Repetitions of each 64 MiB transfer; median reported (3)", "N" },
    { "skip-create", 0, 0, G_OPTION_ARG_NONE, &opt_skip_create, "Skip the create benchmark", NULL },
    { "skip-peer", 0, 0, G_OPTION_ARG_NONE, &opt_skip_peer_domain,
      "Skip the bench domain (raw floor and qemu-guest-agent peer)", NULL },
    { NULL }
};

/* ---- results ---- */

typedef struct {
    GArray *ours_exec_ms;      /* argv form, no shell */
    GArray *ours_exec_sh_ms;   /* /bin/sh -c form */
    GArray *peer_exec_ms;
    GArray *ours_write_mibs, *ours_read_mibs;
    GArray *raw_h2g_mibs, *raw_g2h_mibs;
    double peer_write_mibs, peer_read_mibs; /* < 0: not measured */
    GArray *ours_create_s, *floor_create_s;
    GArray *floor_createxml_s; /* virDomainCreateXML alone */
    GArray *floor_overlay_s;   /* qemu-img overlay, made before the clock starts */
    GArray *ours_kill_s;
    char *peer_status;         /* NULL if measured, else why not */
    char *floor_status;        /* same, for the raw floor */
    char *create_status;
    char *ours_status;
    char *raw_h2g_dd, *raw_g2h_dd; /* dd's own summary line */
    char *accelerator;
} Results;

static Results R;

static GArray *darray(void)
{
    return g_array_new(FALSE, FALSE, sizeof(double));
}

static void push(GArray *a, double v)
{
    g_array_append_val(a, v);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile; NAN for an empty array. */
static double pct(GArray *a, double p)
{
    if (!a || a->len == 0)
        return NAN;
    double *v = g_memdup2(a->data, a->len * sizeof(double));
    qsort(v, a->len, sizeof(double), dcmp);
    long idx = (long)ceil(p * a->len) - 1;
    if (idx < 0)
        idx = 0;
    if (idx >= (long)a->len)
        idx = a->len - 1;
    double r = v[idx];
    g_free(v);
    return r;
}

static double amin(GArray *a)
{
    return pct(a, 0.0);
}

static double median(GArray *a)
{
    return pct(a, 0.5);
}

static double now_s(void)
{
    return g_get_monotonic_time() / 1e6;
}

static void note(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "oc-bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- cleanup: every domain, sandbox and file this run made ---- */

static GMutex cleanup_lock;
static GPtrArray *cleanup_domains; /* names of transient bench domains */
static char *bench_tmpdir;
static char *state_dir;
static char *bench_tag;            /* "oc_bench_pid=PID" metadata on our sandboxes */
static gboolean cleaned;

static void track_domain(const char *name)
{
    g_mutex_lock(&cleanup_lock);
    g_ptr_array_add(cleanup_domains, g_strdup(name));
    g_mutex_unlock(&cleanup_lock);
}

static void destroy_domain_by_name(virConnectPtr conn, const char *name)
{
    virDomainPtr d = virDomainLookupByName(conn, name);
    if (!d)
        return;
    virDomainDestroy(d);   /* transient: gone once destroyed */
    virDomainUndefine(d);  /* in case it was ever made persistent */
    virDomainFree(d);
}

static void untrack_domain(virConnectPtr conn, const char *name)
{
    destroy_domain_by_name(conn, name);
    g_mutex_lock(&cleanup_lock);
    for (guint i = 0; i < cleanup_domains->len; i++)
        if (g_str_equal(cleanup_domains->pdata[i], name)) {
            g_ptr_array_remove_index(cleanup_domains, i);
            break;
        }
    g_mutex_unlock(&cleanup_lock);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void silent_virt_error(void *ud, virErrorPtr e)
{
}

static void cleanup_all(void)
{
    g_mutex_lock(&cleanup_lock);
    if (cleaned) {
        g_mutex_unlock(&cleanup_lock);
        return;
    }
    cleaned = TRUE;
    virSetErrorFunc(NULL, silent_virt_error);
    if (cleanup_domains && cleanup_domains->len) {
        virConnectPtr c = virConnectOpen(opt_uri ? opt_uri : "qemu:///system");
        for (guint i = 0; c && i < cleanup_domains->len; i++)
            destroy_domain_by_name(c, cleanup_domains->pdata[i]);
        if (c)
            virConnectClose(c);
    }
    /* Library sandboxes carry our tag, including one caught mid-create. */
    if (bench_tag) {
        oc_context *ctx = NULL;
        oc_context_options co = OC_CONTEXT_OPTIONS_INIT;
        co.uri = opt_uri;
        co.state_dir = state_dir;
        if (oc_context_new(&ctx, &co, NULL) == 0) {
            const char *filter[] = { bench_tag, NULL };
            oc_sandbox_list *list = NULL;
            if (oc_sandbox_list_get(&list, ctx, filter, 0, NULL) == 0) {
                for (size_t i = 0; i < oc_sandbox_list_count(list); i++) {
                    const char *id = oc_sandbox_info_id(oc_sandbox_list_at(list, i));
                    oc_sandbox *sb = NULL;
                    if (oc_sandbox_connect(&sb, ctx, id, NULL) == 0) {
                        note("cleanup: killing sandbox %s", id);
                        oc_sandbox_kill(sb, 0, NULL);
                        oc_sandbox_unref(sb);
                    }
                }
                oc_sandbox_list_free(list);
            }
            oc_context_unref(ctx);
        }
    }
    if (bench_tmpdir) {
        nftw(bench_tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        g_clear_pointer(&bench_tmpdir, g_free);
    }
    g_mutex_unlock(&cleanup_lock);
}

static gpointer signal_thread(gpointer data)
{
    sigset_t *set = data;
    int sig = 0;
    if (sigwait(set, &sig) == 0) {
        note("caught signal %d: cleaning up", sig);
        cleanup_all();
        _exit(128 + sig);
    }
    return NULL;
}

/* ---- the bench domain's event loop, for lib/agent's client ---- */

static GMainContext *bench_ctx;
static GMainLoop *bench_loop;

static gpointer loop_thread(gpointer data)
{
    g_main_context_push_thread_default(bench_ctx);
    g_main_loop_run(bench_loop);
    g_main_context_pop_thread_default(bench_ctx);
    return NULL;
}

/* Runs sh -c cmd in the bench domain through our agent. */
static gboolean guest_sh(AgentConn *conn, const char *cmd, guint timeout_ms, AgentExecResult *res,
                         GError **error)
{
    static const char *const env[] = { GUEST_PATH_ENV, "HOME=/root", NULL };
    AgentExecRequest req = {
        .command = cmd, .env = env, .timeout_ms = timeout_ms, .max_output = 1u << 20,
    };
    memset(res, 0, sizeof *res);
    return agent_exec_run(conn, &req, res, error);
}

static char *res_text(GByteArray *b)
{
    return g_strstrip(g_strndup((const char *)b->data, b->len));
}

/* ---- domain XML ---- */

static char *channel_path(virDomainPtr dom, const char *name)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    char *path;

    if (!xml)
        return NULL;
    path = virt_domain_xml_channel_path(xml, name, NULL);
    free(xml);
    return path;
}

typedef struct {
    const char *domain_type;
    char *kernel, *initrd, *template_disk;
} BootFiles;

static BootFiles boot;

/* The library's own domain XML (lib/virt/domain-xml.c), under a name that
 * does not look like a sandbox id, optionally with the peer's channels. */
static char *bench_xml(const char *name, const char *disk, const char *log, gboolean extra)
{
    g_autoptr(VirtRecord) rec = virt_record_new();
    rec->id = g_strdup(name);
    rec->template_name = g_strdup("base");
    rec->created = g_get_real_time() / G_USEC_PER_SEC;
    rec->timeout_s = 0;
    rec->cpu_count = OC_DEFAULT_CPU_COUNT;
    rec->memory_mb = OC_DEFAULT_MEMORY_MB;
    VirtDomainSpec ds = {
        .domain_type = boot.domain_type, .kernel = boot.kernel, .initrd = boot.initrd,
        .disk = disk, .console_log = log, .record = rec,
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

static const char *virt_msg(void)
{
    virErrorPtr e = virGetLastError();
    return e && e->message ? e->message : "unknown libvirt error";
}

/* Connects to a unix socket, retrying until it exists and listens. */
static int unix_connect(const char *path, double timeout_s)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    double deadline = now_s() + timeout_s;
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        int e = errno;
        close(fd);
        if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) || now_s() > deadline) {
            errno = e;
            return -1;
        }
        g_usleep(500);
    }
}

/* ---- qemu-guest-agent through libvirt ---- */

static JsonNode *qga(virDomainPtr dom, const char *cmd, GError **error)
{
    double t0 = now_s();
    char *reply = virDomainQemuAgentCommand(dom, cmd, 60, 0);
    if (!reply) {
        char what[48];
        g_strlcpy(what, cmd, sizeof what);
        g_set_error(error, OC_ERROR, OC_EVIRT, "%s (after %.1f s, %zu-byte command %s...)", virt_msg(),
                    now_s() - t0, strlen(cmd), what);
        return NULL;
    }
    JsonNode *node = json_from_string(reply, error);
    free(reply);
    if (!node)
        return NULL;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    if (!o || !json_object_has_member(o, "return")) {
        g_set_error(error, OC_ERROR, OC_EAGENT, "qemu-ga reply without \"return\"");
        json_node_unref(node);
        return NULL;
    }
    JsonNode *ret = json_node_copy(json_object_get_member(o, "return"));
    json_node_unref(node);
    return ret;
}

/* One guest-exec of /bin/true, polled to completion.  Returns ms or <0. */
static double qga_exec_true(virDomainPtr dom, GError **error)
{
    double t0 = now_s();
    JsonNode *r = qga(dom, "{\"execute\":\"guest-exec\",\"arguments\":"
                           "{\"path\":\"/bin/true\",\"capture-output\":true}}", error);
    if (!r)
        return -1;
    gint64 pid = json_object_get_int_member(json_node_get_object(r), "pid");
    json_node_unref(r);
    g_autofree char *status = g_strdup_printf(
        "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" G_GINT64_FORMAT "}}", pid);
    for (;;) {
        r = qga(dom, status, error);
        if (!r)
            return -1;
        JsonObject *o = json_node_get_object(r);
        gboolean exited = json_object_get_boolean_member_with_default(o, "exited", FALSE);
        gint64 code = json_object_get_int_member_with_default(o, "exitcode", -1);
        json_node_unref(r);
        if (exited) {
            double t1 = now_s();
            if (code != 0) {
                g_set_error(error, OC_ERROR, OC_EAGENT, "/bin/true exited %" G_GINT64_FORMAT, code);
                return -1;
            }
            return (t1 - t0) * 1000.0;
        }
    }
}

static gint64 qga_open(virDomainPtr dom, const char *path, const char *mode, GError **error)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"%s\",\"mode\":\"%s\"}}", path, mode);
    JsonNode *r = qga(dom, cmd, error);
    if (!r)
        return -1;
    gint64 h = json_node_get_int(r);
    json_node_unref(r);
    return h;
}

static gboolean qga_close(virDomainPtr dom, gint64 h, GError **error)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT "}}", h);
    JsonNode *r = qga(dom, cmd, error);
    if (r)
        json_node_unref(r);
    return r != NULL;
}

/* Raw bytes per guest-file-write.  Not 1 MiB: libvirt (9.0 here) writes an
 * agent command to its non-blocking socket with safewrite(), and when a write
 * hits EAGAIN after a partial write it keeps its old offset and later sends
 * those bytes again (qemuAgentIOWrite).  A command bigger than the socket's
 * send buffer (net.core.wmem_default, 208 KiB by default) can therefore reach
 * qemu-ga with a repeated prefix; qemu-ga rejects the garbled JSON with an
 * id-less error, libvirt ignores that and times out with "Guest agent is not
 * responding: Guest agent not available for now".  So the base64 command is
 * kept to 5/8 of the send buffer: 96 KiB of data per command by default.
 * Reads are not affected (libvirt reads replies up to 10 MB correctly). */
static gsize qga_write_chunk(void)
{
    gsize sndbuf = 212992;
    g_autofree char *s = NULL;
    if (g_file_get_contents("/proc/sys/net/core/wmem_default", &s, NULL, NULL) && atoll(s) > 0)
        sndbuf = (gsize)atoll(s);
    gsize chunk = (sndbuf * 5 / 8) / 4 * 3 / 4096 * 4096;
    return CLAMP(chunk, 4096, (gsize)1 << 20);
}

#define QGA_READ_CHUNK (1u << 20)

/* Writes data to path in qga_write_chunk() base64 chunks; returns seconds or <0. */
static double qga_file_write(virDomainPtr dom, const char *path, const guint8 *data, gsize len,
                             GError **error)
{
    const gsize chunk = qga_write_chunk();
    double t0 = now_s();
    gint64 h = qga_open(dom, path, "w", error);
    if (h < 0)
        return -1;
    for (gsize off = 0; off < len; off += chunk) {
        gsize n = MIN(chunk, len - off);
        g_autofree char *b64 = g_base64_encode(data + off, n);
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
            ",\"buf-b64\":\"%s\"}}", h, b64);
        JsonNode *r = qga(dom, cmd, error);
        if (!r)
            return -1;
        gint64 count = json_object_get_int_member_with_default(json_node_get_object(r), "count", -1);
        json_node_unref(r);
        if (count != (gint64)n) {
            g_set_error(error, OC_ERROR, OC_EIO, "guest-file-write wrote %" G_GINT64_FORMAT " of %zu",
                        count, n);
            return -1;
        }
    }
    if (!qga_close(dom, h, error))
        return -1;
    return now_s() - t0;
}

/* Reads path back in QGA_READ_CHUNK chunks and compares with expect. */
static double qga_file_read(virDomainPtr dom, const char *path, const guint8 *expect, gsize len,
                            GError **error)
{
    double t0 = now_s();
    gint64 h = qga_open(dom, path, "r", error);
    if (h < 0)
        return -1;
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
        ",\"count\":%u}}", h, QGA_READ_CHUNK);
    GByteArray *got = g_byte_array_new();
    for (;;) {
        JsonNode *r = qga(dom, cmd, error);
        if (!r) {
            g_byte_array_unref(got);
            return -1;
        }
        JsonObject *o = json_node_get_object(r);
        const char *b64 = json_object_get_string_member_with_default(o, "buf-b64", "");
        gboolean eof = json_object_get_boolean_member_with_default(o, "eof", FALSE);
        gsize n = 0;
        guchar *bytes = g_base64_decode(b64, &n);
        g_byte_array_append(got, bytes, n);
        g_free(bytes);
        json_node_unref(r);
        if (eof || n == 0)
            break;
    }
    qga_close(dom, h, NULL);
    double t = now_s() - t0;
    gboolean same = got->len == len && memcmp(got->data, expect, len) == 0;
    g_byte_array_unref(got);
    if (!same) {
        g_set_error(error, OC_ERROR, OC_EIO, "guest-file-read returned different bytes");
        return -1;
    }
    return t;
}

/* ---- helpers ---- */

static guint8 *pattern(gsize len, guint32 seed)
{
    guint8 *buf = g_malloc(len);
    guint64 x = 0x9e3779b97f4a7c15ull ^ seed;
    for (gsize i = 0; i + 8 <= len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    for (gsize i = len & ~(gsize)7; i < len; i++)
        buf[i] = (guint8)i;
    return buf;
}

static void report_oc(const char *what, int rc, oc_error *e)
{
    note("%s failed: %s (%s)", what, e ? oc_error_message(e) : "no message", oc_strerror(rc));
    oc_error_free(e);
}

/* ---- watchdog: library file calls have no timeout ---- */

/* If an operation outlives its deadline, the watchdog kills the sandbox:
 * that fails the stuck call (lost connection) and the run goes on. */
typedef struct {
    GMutex lock;
    GCond cond;
    gboolean stop, fired;
    oc_sandbox *sb;
    gint64 deadline;
    const char *what;
    GThread *thread;
} Watchdog;

static gpointer watchdog_thread(gpointer data)
{
    Watchdog *w = data;
    g_mutex_lock(&w->lock);
    while (!w->stop && g_cond_wait_until(&w->cond, &w->lock, w->deadline))
        ;
    if (!w->stop) {
        w->fired = TRUE;
        g_mutex_unlock(&w->lock);
        note("watchdog: %s did not finish in time; killing the sandbox", w->what);
        oc_sandbox_kill(w->sb, 0, NULL);
        return NULL;
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

static void watchdog_arm(Watchdog *w, oc_sandbox *sb, int secs, const char *what)
{
    memset(w, 0, sizeof *w);
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->sb = sb;
    w->what = what;
    w->deadline = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;
    w->thread = g_thread_new("watchdog", watchdog_thread, w);
}

/* Returns TRUE if the watchdog fired. */
static gboolean watchdog_disarm(Watchdog *w)
{
    g_mutex_lock(&w->lock);
    w->stop = TRUE;
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
    g_thread_join(w->thread);
    gboolean fired = w->fired;
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    return fired;
}

/* ---- 1+2 (ours): exec and files on a library sandbox ---- */

static gboolean bench_ours(oc_context *ctx)
{
    const char *meta[] = { bench_tag, NULL };
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    oc_sandbox *sb = NULL;
    oc_error *e = NULL;
    g_autofree guint8 *data = NULL;
    int rc;

    so.metadata = meta;
    note("ours: creating a sandbox");
    double t0 = now_s();
    if ((rc = oc_sandbox_create(&sb, ctx, &so, &e)) != 0) {
        report_oc("oc_sandbox_create", rc, e);
        R.ours_status = g_strdup("oc_sandbox_create failed");
        return FALSE;
    }
    note("ours: sandbox %s up in %.2f s", oc_sandbox_id(sb), now_s() - t0);

    static const char *const noargs[] = { NULL };
    oc_exec_options argv_form = OC_EXEC_OPTIONS_INIT;
    argv_form.args = noargs;
    const oc_exec_options *forms[2] = { &argv_form, NULL };
    GArray *out[2] = { R.ours_exec_ms, R.ours_exec_sh_ms };

    for (int f = 0; f < 2; f++) {
        for (int i = 0; i < opt_exec_warmup + opt_exec_n; i++) {
            oc_exec_result *res = NULL;
            double a = now_s();
            rc = oc_exec_run(&res, sb, "true", forms[f], &e);
            double b = now_s();
            if (rc != 0) {
                report_oc("oc_exec_run(true)", rc, e);
                e = NULL;
                R.ours_status = g_strdup("oc_exec_run failed");
                goto out;
            }
            int code = oc_exec_result_exit_code(res);
            oc_exec_result_free(res);
            if (code != 0) {
                note("ours: true exited %d", code);
                R.ours_status = g_strdup("true did not exit 0");
                goto out;
            }
            if (i >= opt_exec_warmup)
                push(out[f], (b - a) * 1000.0);
        }
    }
    note("ours: exec true p50 %.2f ms (sh -c: %.2f ms)", median(R.ours_exec_ms),
         median(R.ours_exec_sh_ms));

    gsize len = (gsize)opt_file_mib << 20;
    data = pattern(len, 1);
    const char *path = "/tmp/oc-bench.bin";
    /* generous: 1 MiB/s would still finish */
    int limit = 60 + opt_file_mib;
    Watchdog wd;
    for (int i = 0; i < opt_reps; i++) {
        double a = now_s();
        watchdog_arm(&wd, sb, limit, "oc_files_write");
        rc = oc_files_write(sb, path, data, len, 0, &e);
        if (watchdog_disarm(&wd)) {
            report_oc("oc_files_write (stuck, killed by the watchdog)", rc, e);
            e = NULL;
            R.ours_status = g_strdup_printf("oc_files_write of %d MiB hung (no progress for %d s)",
                                            opt_file_mib, limit);
            goto out;
        }
        if (rc != 0) {
            report_oc("oc_files_write", rc, e);
            e = NULL;
            R.ours_status = g_strdup("oc_files_write failed");
            goto out;
        }
        double b = now_s();
        push(R.ours_write_mibs, len / MIB / (b - a));
        void *back = NULL;
        size_t blen = 0;
        a = now_s();
        watchdog_arm(&wd, sb, limit, "oc_files_read");
        rc = oc_files_read(sb, path, &back, &blen, 0, &e);
        if (watchdog_disarm(&wd)) {
            report_oc("oc_files_read (stuck, killed by the watchdog)", rc, e);
            e = NULL;
            oc_free(back);
            R.ours_status = g_strdup_printf("oc_files_read of %d MiB hung (no progress for %d s)",
                                            opt_file_mib, limit);
            goto out;
        }
        if (rc != 0) {
            report_oc("oc_files_read", rc, e);
            e = NULL;
            R.ours_status = g_strdup("oc_files_read failed");
            goto out;
        }
        b = now_s();
        gboolean same = blen == len && memcmp(back, data, len) == 0;
        oc_free(back);
        if (!same) {
            note("ours: oc_files_read returned %zu bytes that differ from what was written", blen);
            R.ours_status = g_strdup("file read-back mismatch");
            goto out;
        }
        push(R.ours_read_mibs, len / MIB / (b - a));
    }
    oc_files_remove(sb, path, 0, NULL);
    note("ours: write %.1f MiB/s, read %.1f MiB/s", median(R.ours_write_mibs),
         median(R.ours_read_mibs));

out:
    if ((rc = oc_sandbox_kill(sb, 0, &e)) != 0 && rc != OC_ENOTFOUND)
        report_oc("oc_sandbox_kill", rc, e);
    else
        oc_error_free(e);
    oc_sandbox_unref(sb);
    return R.ours_status == NULL;
}

/* ---- 1+2 (floor and peer): the bench domain ---- */

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
    j->ok = guest_sh(j->conn, j->cmd, 120000, &j->res, &j->error);
    j->done = now_s();
    return NULL;
}

static gboolean job_ok(ExecJob *j, const char *what)
{
    if (!j->ok) {
        note("%s: %s", what, j->error ? j->error->message : "failed");
        return FALSE;
    }
    if (j->res.exit_code != 0) {
        g_autofree char *err = res_text(j->res.err);
        note("%s: exit %d: %s", what, j->res.exit_code, err);
        return FALSE;
    }
    return TRUE;
}

static char *dd_summary(GByteArray *err)
{
    g_autofree char *t = res_text(err);
    char *nl = strrchr(t, '\n');
    return g_strdup(nl ? nl + 1 : t);
}

/* host -> guest: guest opens the port, says "x", then dd reads N MiB. */
static double raw_h2g(AgentConn *conn, int rawfd, const char *dev, char **dd_out)
{
    gsize len = (gsize)opt_file_mib << 20;
    ExecJob j = { .conn = conn };
    j.cmd = g_strdup_printf("exec 3<>%s; printf x >&3; "
                            "dd of=/dev/null bs=1M count=%d iflag=fullblock <&3", dev, opt_file_mib);
    GThread *t = g_thread_new("raw-h2g", exec_job, &j);
    struct pollfd p = { .fd = rawfd, .events = POLLIN };
    char c = 0;
    double rate = -1;
    if (poll(&p, 1, 30000) != 1 || read(rawfd, &c, 1) != 1 || c != 'x') {
        note("raw h2g: the guest did not open %s", dev);
        shutdown(rawfd, SHUT_RDWR);
        g_thread_join(t);
        goto out;
    }
    static guint8 zeros[1 << 20];
    double t0 = now_s();
    for (gsize off = 0; off < len;) {
        ssize_t n = write(rawfd, zeros, MIN(sizeof zeros, len - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            note("raw h2g: write: %s", g_strerror(errno));
            break;
        }
        off += n;
    }
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
        struct pollfd p = { .fd = rawfd, .events = POLLIN };
        if (poll(&p, 1, 60000) != 1) {
            note("raw g2h: no data for 60 s after %zu bytes", got);
            break;
        }
        ssize_t n = read(rawfd, buf, MIN((gsize)(1 << 20), len - got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            note("raw g2h: read: %s", n < 0 ? g_strerror(errno) : "EOF");
            break;
        }
        if (got == 0) {
            t_first = now_s();
            first = n;
        }
        got += n;
        t_last = now_s();
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

static gboolean bench_domain(virConnectPtr vc)
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

    if (!virt_overlay_create(disk, boot.template_disk, &err)) {
        note("bench domain: %s", err->message);
        R.floor_status = g_strdup("overlay creation failed");
        goto out;
    }
    xml = bench_xml(name, disk, log, TRUE);
    track_domain(name);
    note("bench domain: starting %s", name);
    double t0 = now_s();
    dom = virDomainCreateXML(vc, xml, 0);
    if (!dom) {
        note("bench domain: virDomainCreateXML: %s", virt_msg());
        R.floor_status = g_strdup("virDomainCreateXML failed");
        goto out;
    }
    agent_sock = channel_path(dom, VIRT_AGENT_PORT);
    raw_sock = channel_path(dom, RAW_PORT);
    if (!agent_sock || !raw_sock) {
        note("bench domain: no socket path for %s or %s in the live XML", VIRT_AGENT_PORT, RAW_PORT);
        R.floor_status = g_strdup("channel sockets missing from the live XML");
        goto out;
    }
    /* The host end of oc.raw is connected before the guest opens the port. */
    rawfd = unix_connect(raw_sock, 10);
    if (rawfd < 0) {
        note("bench domain: connect %s: %s", raw_sock, g_strerror(errno));
        R.floor_status = g_strdup("cannot connect to the oc.raw socket");
        goto out;
    }
    int big = 4 << 20;
    setsockopt(rawfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(rawfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);

    conn = agent_conn_open(agent_sock, bench_ctx, 120000, &err);
    if (!conn) {
        note("bench domain: agent: %s (console: %s)", err->message, log);
        R.floor_status = g_strdup("the agent did not answer in the bench domain");
        goto out;
    }
    note("bench domain: agent up in %.2f s (%s)", now_s() - t0, agent_conn_agent_version(conn));

    if (!guest_sh(conn, "for d in /sys/class/virtio-ports/*; do "
                        "printf '%s %s\\n' \"$(cat $d/name)\" \"${d##*/}\"; done",
                  30000, &res, &err) || res.exit_code != 0) {
        note("bench domain: listing virtio ports failed: %s", err ? err->message : "exit != 0");
        R.floor_status = g_strdup("cannot list /sys/class/virtio-ports");
        goto out;
    }
    ports = res_text(res.out);
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
        note("bench domain: no %s port in the guest: %s", RAW_PORT, ports);
        R.floor_status = g_strdup("oc.raw port not found in the guest");
    } else {
        note("bench domain: raw port %s", raw_dev);
        for (int i = 0; i < opt_reps; i++) {
            char *dd = NULL;
            double v = raw_h2g(conn, rawfd, raw_dev, &dd);
            if (v < 0) {
                R.floor_status = g_strdup("raw host->guest transfer failed");
                break;
            }
            push(R.raw_h2g_mibs, v);
            g_free(R.raw_h2g_dd);
            R.raw_h2g_dd = dd;
            dd = NULL;
            v = raw_g2h(conn, rawfd, raw_dev, &dd);
            if (v < 0) {
                R.floor_status = g_strdup("raw guest->host transfer failed");
                break;
            }
            push(R.raw_g2h_mibs, v);
            g_free(R.raw_g2h_dd);
            R.raw_g2h_dd = dd;
        }
        note("bench domain: raw h2g %.1f MiB/s, g2h %.1f MiB/s", median(R.raw_h2g_mibs),
             median(R.raw_g2h_mibs));
    }

    /* peer: qemu-guest-agent */
    if (!qga_dev) {
        R.peer_status = g_strdup("no org.qemu.guest_agent.0 port in the guest");
        goto out;
    }
    if (!guest_sh(conn, "test -x /usr/sbin/qemu-ga", 30000, &res, &err) || res.exit_code != 0) {
        g_clear_error(&err);
        agent_exec_result_clear(&res);
        R.peer_status = g_strdup("qemu-guest-agent is not in the template (/usr/sbin/qemu-ga missing)");
        note("peer: %s", R.peer_status);
        goto out;
    }
    agent_exec_result_clear(&res);
    {
        g_autofree char *cmd = g_strdup_printf(
            "/usr/sbin/qemu-ga -d -m virtio-serial -p %s -f /tmp/qemu-ga.pid -t /tmp 2>&1", qga_dev);
        if (!guest_sh(conn, cmd, 30000, &res, &err) || res.exit_code != 0) {
            g_autofree char *o = res.out ? res_text(res.out) : g_strdup("");
            R.peer_status = g_strdup_printf("qemu-ga did not start: %s", err ? err->message : o);
            note("peer: %s", R.peer_status);
            g_clear_error(&err);
            agent_exec_result_clear(&res);
            goto out;
        }
        agent_exec_result_clear(&res);
    }
    {
        double deadline = now_s() + 60;
        JsonNode *r = NULL;
        while (!(r = qga(dom, "{\"execute\":\"guest-ping\"}", &err)) && now_s() < deadline) {
            g_clear_error(&err);
            g_usleep(200000);
        }
        if (!r) {
            R.peer_status = g_strdup_printf("qemu-ga does not answer through libvirt: %s",
                                            err ? err->message : "timeout");
            note("peer: %s", R.peer_status);
            g_clear_error(&err);
            goto out;
        }
        json_node_unref(r);
    }
    note("peer: qemu-ga answers");
    for (int i = 0; i < opt_exec_warmup + opt_exec_n; i++) {
        double ms = qga_exec_true(dom, &err);
        if (ms < 0) {
            R.peer_status = g_strdup_printf("guest-exec failed: %s", err->message);
            note("peer: %s", R.peer_status);
            g_clear_error(&err);
            goto out;
        }
        if (i >= opt_exec_warmup)
            push(R.peer_exec_ms, ms);
    }
    note("peer: exec true p50 %.2f ms", median(R.peer_exec_ms));
    {
        gsize len = (gsize)opt_peer_file_mib << 20;
        g_autofree guint8 *data = pattern(len, 2);
        double w = qga_file_write(dom, "/tmp/qga-bench.bin", data, len, &err);
        double r = w < 0 ? -1 : qga_file_read(dom, "/tmp/qga-bench.bin", data, len, &err);
        if (w < 0 || r < 0) {
            R.peer_status = g_strdup_printf("guest-file-* failed: %s", err->message);
            note("peer: %s", R.peer_status);
            g_clear_error(&err);
            /* Tells "qemu-ga died" apart from "qemu-ga got a command it could not parse". */
            if (guest_sh(conn, "kill -0 \"$(cat /tmp/qemu-ga.pid)\" 2>/dev/null && echo running || echo gone",
                         30000, &res, &err)) {
                g_autofree char *o = res.out ? res_text(res.out) : g_strdup("?");
                note("peer: qemu-ga in the guest afterwards: %s", o);
                agent_exec_result_clear(&res);
            }
            g_clear_error(&err);
            goto out;
        }
        R.peer_write_mibs = len / MIB / w;
        R.peer_read_mibs = len / MIB / r;
        note("peer: write %.2f MiB/s, read %.2f MiB/s", R.peer_write_mibs, R.peer_read_mibs);
    }

out:
    g_clear_error(&err);
    if (conn)
        agent_conn_close(conn);
    if (rawfd >= 0)
        close(rawfd);
    if (dom)
        virDomainFree(dom);
    untrack_domain(vc, name);
    unlink(disk);
    unlink(log);
    return TRUE;
}

/* ---- 3: create to first exec ---- */

/* Returns seconds from virDomainCreateXML to the agent's first byte, <0 on failure. */
static double floor_create_once(virConnectPtr vc, int i)
{
    g_autofree char *name = g_strdup_printf("ocbench-%d-floor-%d", (int)getpid(), i);
    g_autofree char *disk = g_strdup_printf("%s/floor-%d.qcow2", bench_tmpdir, i);
    g_autofree char *log = g_strdup_printf("%s/floor-%d-console.log", bench_tmpdir, i);
    GError *err = NULL;
    double result = -1;
    int fd = -1;
    virDomainPtr dom = NULL;
    g_autofree char *sock = NULL;

    double o0 = now_s();
    if (!virt_overlay_create(disk, boot.template_disk, &err)) {
        note("floor: %s", err->message);
        g_clear_error(&err);
        return -1;
    }
    push(R.floor_overlay_s, now_s() - o0);
    g_autofree char *xml = bench_xml(name, disk, log, FALSE);

    /* the HELLO frame, built with the protocol's own writer */
    guint8 fields[128], frame[OC_PROTO_HEADER_SIZE + 128];
    oc_proto_writer w;
    oc_proto_writer_init(&w, fields, sizeof fields);
    oc_proto_put_u32(&w, OC_F_VERSION_MIN, OC_PROTO_VERSION);
    oc_proto_put_u32(&w, OC_F_VERSION_MAX, OC_PROTO_VERSION);
    oc_proto_put_u64(&w, OC_F_NONCE, ((guint64)g_random_int() << 32) | g_random_int());
    oc_proto_put_u64(&w, OC_F_TIME_NS, (guint64)g_get_real_time() * 1000);
    g_assert(!w.overflow);
    size_t flen = oc_proto_frame(frame, OC_T_HELLO, 0, 0, fields, (uint32_t)w.len);

    track_domain(name);
    double t0 = now_s();
    dom = virDomainCreateXML(vc, xml, 0);
    if (!dom) {
        note("floor: virDomainCreateXML: %s", virt_msg());
        goto out;
    }
    push(R.floor_createxml_s, now_s() - t0);
    sock = channel_path(dom, VIRT_AGENT_PORT);
    if (!sock) {
        note("floor: no agent socket in the live XML");
        goto out;
    }
    fd = unix_connect(sock, 30);
    if (fd < 0) {
        note("floor: connect %s: %s", sock, g_strerror(errno));
        goto out;
    }
    double deadline = t0 + 180;
    for (;;) {
        if (write(fd, frame, flen) != (ssize_t)flen) {
            note("floor: write HELLO: %s", g_strerror(errno));
            goto out;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, 50);
        if (r == 1) {
            guint8 b;
            double t1 = now_s();
            if (read(fd, &b, 1) != 1) {
                note("floor: the agent socket closed");
                goto out;
            }
            result = t1 - t0;
            break;
        }
        if (now_s() > deadline) {
            note("floor: no byte from the agent in 180 s (console: %s)", log);
            goto out;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    if (dom)
        virDomainFree(dom);
    untrack_domain(vc, name);
    unlink(disk);
    unlink(log);
    return result;
}

static double ours_create_once(oc_context *ctx)
{
    const char *meta[] = { bench_tag, NULL };
    static const char *const noargs[] = { NULL };
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    oc_exec_options eo = OC_EXEC_OPTIONS_INIT;
    oc_sandbox *sb = NULL;
    oc_exec_result *res = NULL;
    oc_error *e = NULL;
    double result = -1;
    int rc;

    so.metadata = meta;
    eo.args = noargs;
    double t0 = now_s();
    if ((rc = oc_sandbox_create(&sb, ctx, &so, &e)) != 0) {
        report_oc("oc_sandbox_create", rc, e);
        return -1;
    }
    rc = oc_exec_run(&res, sb, "true", &eo, &e);
    double t1 = now_s();
    if (rc != 0)
        report_oc("oc_exec_run(true)", rc, e);
    else if (oc_exec_result_exit_code(res) != 0)
        note("ours create: true exited %d", oc_exec_result_exit_code(res));
    else
        result = t1 - t0;
    oc_exec_result_free(res);
    e = NULL;
    double k0 = now_s();
    if ((rc = oc_sandbox_kill(sb, 0, &e)) != 0)
        report_oc("oc_sandbox_kill", rc, e);
    else
        push(R.ours_kill_s, now_s() - k0);
    oc_sandbox_unref(sb);
    return result;
}

static void bench_create(oc_context *ctx, virConnectPtr vc)
{
    for (int i = 0; i < opt_create_n; i++) {
        double f = floor_create_once(vc, i);
        if (f < 0) {
            R.create_status = g_strdup("floor create failed");
            return;
        }
        push(R.floor_create_s, f);
        double o = ours_create_once(ctx);
        if (o < 0) {
            R.create_status = g_strdup("ours create failed");
            return;
        }
        push(R.ours_create_s, o);
        note("create #%d: floor %.2f s, ours %.2f s", i + 1, f, o);
    }
}

/* ---- report ---- */

static void fmt_num(char *buf, size_t cap, double v, int decimals, const char *suffix)
{
    if (isnan(v) || v < 0)
        g_strlcpy(buf, "-", cap);
    else
        g_snprintf(buf, cap, "%.*f%s", decimals, v, suffix);
}

static const char *verdict(gboolean have, gboolean ok)
{
    return !have ? "n/a" : ok ? "PASS" : "MISS";
}

typedef struct {
    const char *metric;
    double ours, floor, peer;
    int decimals;
    double ours_floor;  /* ours/floor */
    double vs_peer;     /* how many times better ours is than the peer */
    const char *target;
    const char *result;
} Row;

static void print_table(Row *rows, int n)
{
    printf("\n%-28s %10s %10s %12s %11s %10s  %-34s %s\n", "metric", "ours", "floor", "peer (qga)",
           "ours/floor", "vs peer", "target", "result");
    for (int i = 0; i < n; i++) {
        char o[32], f[32], p[32], of[32], vp[32];
        fmt_num(o, sizeof o, rows[i].ours, rows[i].decimals, "");
        fmt_num(f, sizeof f, rows[i].floor, rows[i].decimals, "");
        fmt_num(p, sizeof p, rows[i].peer, rows[i].decimals, "");
        fmt_num(of, sizeof of, rows[i].ours_floor, 2, "");
        fmt_num(vp, sizeof vp, rows[i].vs_peer, 1, "x");
        printf("%-28s %10s %10s %12s %11s %10s  %-34s %s\n", rows[i].metric, o, f, p, of, vp,
               rows[i].target, rows[i].result);
    }
}

static void json_arr(JsonBuilder *b, const char *name, GArray *a)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (guint i = 0; a && i < a->len; i++)
        json_builder_add_double_value(b, g_array_index(a, double, i));
    json_builder_end_array(b);
}

static void json_num(JsonBuilder *b, const char *name, double v)
{
    json_builder_set_member_name(b, name);
    if (isnan(v) || v < 0)
        json_builder_add_null_value(b);
    else
        json_builder_add_double_value(b, v);
}

static void json_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void json_str(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    if (v)
        json_builder_add_string_value(b, v);
    else
        json_builder_add_null_value(b);
}

static double ratio(double a, double b)
{
    if (isnan(a) || isnan(b) || a < 0 || b <= 0)
        return NAN;
    return a / b;
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    GOptionContext *oc = g_option_context_new("- compare libopencomputer with its floors and qemu-guest-agent");
    g_option_context_add_main_entries(oc, entries, NULL);
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        fprintf(stderr, "oc-bench: %s\n", err->message);
        return 2;
    }
    g_option_context_free(oc);
    if (opt_exec_n < 1 || opt_create_n < 0 || opt_file_mib < 1 || opt_peer_file_mib < 1 || opt_reps < 1) {
        fprintf(stderr, "oc-bench: counts and sizes must be positive\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Signals go to one thread, which cleans up; every later thread
     * (libvirt's, the library's) inherits the mask. */
    static sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_thread_unref(g_thread_new("signals", signal_thread, &sigs));

    cleanup_domains = g_ptr_array_new_with_free_func(g_free);
    atexit(cleanup_all);

    memset(&R, 0, sizeof R);
    R.ours_exec_ms = darray();
    R.ours_exec_sh_ms = darray();
    R.peer_exec_ms = darray();
    R.ours_write_mibs = darray();
    R.ours_read_mibs = darray();
    R.raw_h2g_mibs = darray();
    R.raw_g2h_mibs = darray();
    R.ours_create_s = darray();
    R.floor_create_s = darray();
    R.floor_createxml_s = darray();
    R.floor_overlay_s = darray();
    R.ours_kill_s = darray();
    R.peer_write_mibs = R.peer_read_mibs = -1;

    state_dir = g_strdup(opt_state_dir ? opt_state_dir
                         : g_getenv("OC_STATE_DIR") ? g_getenv("OC_STATE_DIR") : OC_DEFAULT_STATE_DIR);
    bench_tag = g_strdup_printf("oc_bench_pid=%d", (int)getpid());

    oc_context *ctx = NULL;
    oc_context_options co = OC_CONTEXT_OPTIONS_INIT;
    oc_error *e = NULL;
    co.uri = opt_uri;
    co.state_dir = state_dir;
    int rc = oc_context_new(&ctx, &co, &e);
    if (rc != 0) {
        report_oc("oc_context_new", rc, e);
        return 1;
    }
    R.accelerator = g_strdup(oc_context_accelerator(ctx));
    boot.domain_type = g_str_equal(R.accelerator, "kvm") ? "kvm" : "qemu";
    if (!image_boot_paths(state_dir, &boot.kernel, &boot.initrd, &err) ||
        !(boot.template_disk = image_template_disk(state_dir, "base", &err))) {
        note("%s", err->message);
        return 1;
    }

    virSetErrorFunc(NULL, silent_virt_error);
    virConnectPtr vc = virConnectOpen(opt_uri ? opt_uri : "qemu:///system");
    if (!vc) {
        note("cannot connect to libvirt: %s", virt_msg());
        return 1;
    }
    g_autofree char *tmpl = g_build_filename(state_dir, "bench-XXXXXX", NULL);
    if (!g_mkdtemp_full(tmpl, 0755)) {
        note("cannot create %s: %s", tmpl, g_strerror(errno));
        return 1;
    }
    chmod(tmpl, 0755);
    bench_tmpdir = g_strdup(tmpl);

    bench_ctx = g_main_context_new();
    bench_loop = g_main_loop_new(bench_ctx, FALSE);
    GThread *lt = g_thread_new("bench-loop", loop_thread, NULL);

    note("state dir %s, accelerator %s, template %s", state_dir, R.accelerator, boot.template_disk);

    /* One VM at a time, so that nothing competes for the host's CPUs. */
    bench_ours(ctx);
    if (opt_skip_peer_domain) {
        R.floor_status = g_strdup("skipped");
        R.peer_status = g_strdup("skipped");
    } else {
        bench_domain(vc);
    }
    if (opt_skip_create)
        R.create_status = g_strdup("skipped");
    else
        bench_create(ctx, vc);

    g_main_loop_quit(bench_loop);
    g_thread_join(lt);

    /* ---- table ---- */
    double ex_o = median(R.ours_exec_ms), ex_p = median(R.peer_exec_ms);
    double w_o = median(R.ours_write_mibs), r_o = median(R.ours_read_mibs);
    double w_f = median(R.raw_h2g_mibs), r_f = median(R.raw_g2h_mibs);
    double w_p = R.peer_write_mibs, r_p = R.peer_read_mibs;
    double c_o = median(R.ours_create_s), c_f = median(R.floor_create_s);
    char wname[64], rname[64], ttw[64], ttr[64];
    g_snprintf(wname, sizeof wname, "file write %dMiB (MiB/s)", opt_file_mib);
    g_snprintf(rname, sizeof rname, "file read %dMiB (MiB/s)", opt_file_mib);
    g_snprintf(ttw, sizeof ttw, ">=0.5 floor, >=30x peer");
    g_snprintf(ttr, sizeof ttr, ">=0.5 floor, >=30x peer");

    gboolean have_ex = !isnan(ex_o) && !isnan(ex_p);
    gboolean have_w = !isnan(w_o) && !isnan(w_f), have_wp = !isnan(w_o) && w_p > 0;
    gboolean have_r = !isnan(r_o) && !isnan(r_f), have_rp = !isnan(r_o) && r_p > 0;
    gboolean have_c = !isnan(c_o) && !isnan(c_f);
    gboolean pass_ex = have_ex && ex_o * 5 <= ex_p;
    gboolean pass_w = have_w && w_o >= 0.5 * w_f, pass_wp = have_wp && w_o >= 30 * w_p;
    gboolean pass_r = have_r && r_o >= 0.5 * r_f, pass_rp = have_rp && r_o >= 30 * r_p;
    gboolean pass_c = have_c && c_o <= 1.25 * c_f;
    char res_w[32], res_r[32];
    g_snprintf(res_w, sizeof res_w, "%s/%s", verdict(have_w, pass_w), verdict(have_wp, pass_wp));
    g_snprintf(res_r, sizeof res_r, "%s/%s", verdict(have_r, pass_r), verdict(have_rp, pass_rp));

    Row rows[] = {
        { "exec true p50 (ms)", ex_o, NAN, ex_p, 2, NAN, ratio(ex_p, ex_o),
          "peer/ours >= 5", verdict(have_ex, pass_ex) },
        { wname, w_o, w_f, w_p, 1, ratio(w_o, w_f), ratio(w_o, w_p), ttw, res_w },
        { rname, r_o, r_f, r_p, 1, ratio(r_o, r_f), ratio(r_o, r_p), ttr, res_r },
        { "create->first exec (s)", c_o, c_f, NAN, 2, ratio(c_o, c_f), NAN,
          "ours/floor <= 1.25", verdict(have_c, pass_c) },
    };
    print_table(rows, G_N_ELEMENTS(rows));
    printf("\n");
    printf("exec true:    ours p50/p90/min %.2f/%.2f/%.2f ms (argv, no shell; N=%u after %d warmups); "
           "ours via sh -c p50 %.2f ms; peer p50/p90/min %.2f/%.2f/%.2f ms\n",
           ex_o, pct(R.ours_exec_ms, 0.9), amin(R.ours_exec_ms), R.ours_exec_ms->len, opt_exec_warmup,
           median(R.ours_exec_sh_ms), ex_p, pct(R.peer_exec_ms, 0.9), amin(R.peer_exec_ms));
    printf("files:        ours and floor on %d MiB (median of runs: ours write %u, read %u; floor "
           "h2g %u, g2h %u), peer on %d MiB (1 run; guest-file-write %zu KiB and guest-file-read "
           "%u KiB per command, base64, timed with open/close); floor = raw virtio-serial, "
           "write = host->guest, read = guest->host\n",
           opt_file_mib, R.ours_write_mibs->len, R.ours_read_mibs->len, R.raw_h2g_mibs->len,
           R.raw_g2h_mibs->len, opt_peer_file_mib, qga_write_chunk() >> 10, QGA_READ_CHUNK >> 10);
    printf("create:       N=%u; floor = virDomainCreateXML -> agent's first byte (overlay made "
           "before the clock, median %.3f s; CreateXML alone median %.2f s); ours = "
           "oc_sandbox_create + oc_exec_run(true)\n",
           R.ours_create_s->len, median(R.floor_overlay_s), median(R.floor_createxml_s));
    if (R.ours_status)
        printf("ours:         NOT MEASURED: %s\n", R.ours_status);
    if (R.floor_status)
        printf("raw floor:    NOT MEASURED: %s\n", R.floor_status);
    if (R.peer_status)
        printf("peer (qga):   NOT MEASURED: %s\n", R.peer_status);
    if (R.create_status)
        printf("create:       NOT MEASURED: %s\n", R.create_status);
    printf("accelerator:  %s; targets are informational, not assertions\n", R.accelerator);

    /* ---- JSON ---- */
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_str(b, "accelerator", R.accelerator);
    json_str(b, "template_disk", boot.template_disk);
    json_builder_set_member_name(b, "params");
    json_builder_begin_object(b);
    json_int(b, "exec_n", opt_exec_n);
    json_int(b, "exec_warmup", opt_exec_warmup);
    json_int(b, "create_n", opt_create_n);
    json_int(b, "file_mib", opt_file_mib);
    json_int(b, "peer_file_mib", opt_peer_file_mib);
    json_int(b, "peer_write_chunk_bytes", (gint64)qga_write_chunk());
    json_int(b, "peer_read_chunk_bytes", QGA_READ_CHUNK);
    json_int(b, "reps", opt_reps);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "raw");
    json_builder_begin_object(b);
    json_arr(b, "ours_exec_true_ms", R.ours_exec_ms);
    json_arr(b, "ours_exec_true_sh_ms", R.ours_exec_sh_ms);
    json_arr(b, "peer_exec_true_ms", R.peer_exec_ms);
    json_arr(b, "ours_write_mibs", R.ours_write_mibs);
    json_arr(b, "ours_read_mibs", R.ours_read_mibs);
    json_arr(b, "floor_raw_h2g_mibs", R.raw_h2g_mibs);
    json_arr(b, "floor_raw_g2h_mibs", R.raw_g2h_mibs);
    json_num(b, "peer_write_mibs", R.peer_write_mibs);
    json_num(b, "peer_read_mibs", R.peer_read_mibs);
    json_arr(b, "ours_create_first_exec_s", R.ours_create_s);
    json_arr(b, "floor_create_first_byte_s", R.floor_create_s);
    json_arr(b, "floor_createxml_s", R.floor_createxml_s);
    json_arr(b, "floor_overlay_s", R.floor_overlay_s);
    json_arr(b, "ours_kill_s", R.ours_kill_s);
    json_str(b, "floor_raw_h2g_dd", R.raw_h2g_dd);
    json_str(b, "floor_raw_g2h_dd", R.raw_g2h_dd);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "summary");
    json_builder_begin_object(b);
    json_num(b, "ours_exec_p50_ms", ex_o);
    json_num(b, "ours_exec_p90_ms", pct(R.ours_exec_ms, 0.9));
    json_num(b, "ours_exec_min_ms", amin(R.ours_exec_ms));
    json_num(b, "ours_exec_sh_p50_ms", median(R.ours_exec_sh_ms));
    json_num(b, "peer_exec_p50_ms", ex_p);
    json_num(b, "peer_exec_p90_ms", pct(R.peer_exec_ms, 0.9));
    json_num(b, "peer_exec_min_ms", amin(R.peer_exec_ms));
    json_num(b, "ours_write_mibs", w_o);
    json_num(b, "ours_read_mibs", r_o);
    json_num(b, "floor_write_mibs", w_f);
    json_num(b, "floor_read_mibs", r_f);
    json_num(b, "peer_write_mibs", w_p);
    json_num(b, "peer_read_mibs", r_p);
    json_num(b, "ours_create_s", c_o);
    json_num(b, "floor_create_s", c_f);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "targets");
    json_builder_begin_object(b);
    json_str(b, "exec_peer_over_ours_ge_5", verdict(have_ex, pass_ex));
    json_str(b, "write_ge_half_floor", verdict(have_w, pass_w));
    json_str(b, "read_ge_half_floor", verdict(have_r, pass_r));
    json_str(b, "write_ge_30x_peer", verdict(have_wp, pass_wp));
    json_str(b, "read_ge_30x_peer", verdict(have_rp, pass_rp));
    json_str(b, "create_le_1_25_floor", verdict(have_c, pass_c));
    json_builder_end_object(b);
    json_builder_set_member_name(b, "status");
    json_builder_begin_object(b);
    json_str(b, "ours", R.ours_status);
    json_str(b, "floor", R.floor_status);
    json_str(b, "peer", R.peer_status);
    json_str(b, "create", R.create_status);
    json_builder_end_object(b);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    char *js = json_to_string(root, FALSE);
    if (opt_json && !g_file_set_contents(opt_json, js, -1, &err)) {
        note("cannot write %s: %s", opt_json, err->message);
        g_clear_error(&err);
    }
    printf("JSON %s\n", js);
    g_free(js);
    json_node_unref(root);
    g_object_unref(b);

    virConnectClose(vc);
    oc_context_unref(ctx);
    cleanup_all();
    return 0;
}
