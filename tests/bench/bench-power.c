/* bench-power.c: the hibernate/wake floor, raw libvirt managed save and
 * restore of a persistent domain of the library's XML, and (--power-levers)
 * what changes its times and image size. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "bench.h"
#include "virt/domain.h"
#include "virt/overlay.h"
#include "virt/power.h"

#define DROP_CACHES "sync; echo 3 > /proc/sys/vm/drop_caches"
/* New, incompressible data through the page cache of the guest's disk
 * (not /tmp: that is tmpfs, whose pages a drop does not free). */
#define FILL_CACHE "head -c 64M /dev/urandom > /var/tmp/oc-bench-fill && sync"
/* Freed pages keep their bytes, and QEMU saves every page that is not all
 * zeros: a buffer as large as the free memory, filled from /dev/zero and
 * freed again, leaves zeros there. */
#define ZERO_FREE DROP_CACHES "; n=$(awk '/^MemFree/ {print int($2 / 1024) - 48}' /proc/meminfo); " \
    "dd if=/dev/zero of=/dev/null bs=${n}M count=1 2>/dev/null"
#define ORPHAN_ROUNDS 5

/* What one set of rounds changes. */
typedef struct {
    const char *name;
    gboolean fill;           /* run FILL_CACHE once before the rounds */
    const char *before_save; /* a guest command before each save */
    unsigned int save_flags, start_flags;
} Lever;

typedef struct {
    char *name, *disk, *log;
    virDomainPtr dom;
} FloorDomain;

/* Defines (managed save needs a persistent domain) and boots a domain of
 * the library's XML, with extra_cmdline appended to the kernel's. */
static gboolean floor_up(virConnectPtr vc, FloorDomain *d, const char *tag, const char *extra_cmdline)
{
    GError *err = NULL;

    d->name = g_strdup_printf("ocbench-%d-%s", (int)getpid(), tag);
    d->disk = g_strdup_printf("%s/%s.qcow2", bench_tmpdir, tag);
    d->log = g_strdup_printf("%s/%s-console.log", bench_tmpdir, tag);
    if (!virt_overlay_create(d->disk, bench_boot.template_disk, &err)) {
        bench_note("power floor: %s", err->message);
        g_clear_error(&err);
        return FALSE;
    }
    g_autofree char *xml = bench_domain_xml(d->name, d->disk, d->log, FALSE);
    if (extra_cmdline) {
        const char *end = strstr(xml, "</cmdline>");
        g_assert(end);
        g_autofree char *head = g_strndup(xml, end - xml);
        g_autofree char *joined = g_strdup_printf("%s %s%s", head, extra_cmdline, end);
        g_free(xml);
        xml = g_steal_pointer(&joined);
    }
    bench_track_domain(d->name);
    d->dom = virDomainDefineXMLFlags(vc, xml, VIR_DOMAIN_DEFINE_VALIDATE);
    if (!d->dom) {
        bench_note("power floor: virDomainDefineXML: %s", bench_virt_msg());
        return FALSE;
    }
    double t0 = bench_now();
    if (virDomainCreate(d->dom) < 0) {
        bench_note("power floor: virDomainCreate: %s", bench_virt_msg());
        return FALSE;
    }
    if (bench_agent_first_byte(d->dom, t0 + 180, d->log) < 0)
        return FALSE;
    bench_push(bench_results.power_boot_s, bench_now() - t0);
    bench_note("power floor: %s up in %.2f s", d->name, bench_now() - t0);
    return TRUE;
}

/* Undefines it with its save image (also on failure: it is tracked). */
static void floor_down(virConnectPtr vc, FloorDomain *d)
{
    if (d->dom)
        virDomainFree(d->dom);
    if (d->name)
        bench_untrack_domain(vc, d->name);
    if (d->disk)
        unlink(d->disk);
    if (d->log)
        unlink(d->log);
    g_free(d->name);
    g_free(d->disk);
    g_free(d->log);
    memset(d, 0, sizeof *d);
}

/* Runs cmd in the guest through our agent; seconds, <0 on failure. */
static double guest_cmd(virDomainPtr dom, GMainContext *loop_ctx, const char *cmd)
{
    g_autofree char *sock = bench_channel_path(dom, VIRT_AGENT_PORT);
    GError *err = NULL;
    AgentExecResult res = { 0 };
    double took = -1;
    AgentConn *conn = sock ? agent_conn_open(sock, loop_ctx, 60000, &err) : NULL;

    if (!conn) {
        bench_note("power floor: agent: %s", err ? err->message : "no socket");
        g_clear_error(&err);
        return -1;
    }
    double t0 = bench_now();
    if (!bench_guest_sh(conn, cmd, 300000, &res, &err)) {
        bench_note("power floor: %s: %s", cmd, err->message);
        g_clear_error(&err);
    } else if (res.exit_code != 0) {
        g_autofree char *out = bench_res_text(res.err);
        bench_note("power floor: %s: exit %d: %s", cmd, res.exit_code, out);
    } else {
        took = bench_now() - t0;
    }
    agent_exec_result_clear(&res);
    agent_conn_close(conn); /* its socket goes with QEMU */
    return took;
}

/* libvirt's own time for the save job just completed (the migration to the
 * file, with the guest paused); <0 if it does not say. */
static double save_job_s(virDomainPtr dom)
{
    virTypedParameterPtr params = NULL;
    int type = 0, n = 0;
    unsigned long long ms = 0;
    double s = -1;

    if (virDomainGetJobStats(dom, &type, &params, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0)
        return -1;
    if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_TIME_ELAPSED, &ms) == 1)
        s = ms / 1000.0;
    virTypedParamsFree(params, n);
    return s;
}

static void push_if(GArray *a, double v)
{
    if (v >= 0)
        bench_push(a, v);
}

/* One managed save and restore of the running domain. */
static gboolean power_round(FloorDomain *d, BenchPower *p, const Lever *lv, GMainContext *loop_ctx)
{
    GError *err = NULL;

    if (lv->before_save) {
        double t = guest_cmd(d->dom, loop_ctx, lv->before_save);
        if (t < 0)
            return FALSE;
        bench_push(p->prep_s, t);
    }
    double a = bench_now();
    if (virDomainManagedSave(d->dom, lv->save_flags) < 0) {
        bench_note("power floor: virDomainManagedSave: %s", bench_virt_msg());
        return FALSE;
    }
    bench_push(p->save_s, bench_now() - a);
    push_if(p->save_job_s, save_job_s(d->dom));
    push_if(p->image_bytes, bench_save_image_bytes(d->dom));
    /* what the library adds after the save: is the image durable already? */
    a = bench_now();
    if (virt_sync_save_image(d->dom, &err)) {
        bench_push(p->sync_s, bench_now() - a);
    } else {
        bench_note("power floor: %s", err->message);
        g_clear_error(&err);
    }
    a = bench_now();
    if (virDomainCreateWithFlags(d->dom, lv->start_flags) < 0) {
        bench_note("power floor: restore: %s", bench_virt_msg());
        return FALSE;
    }
    bench_push(p->restore_s, bench_now() - a);
    double t = bench_agent_first_byte(d->dom, a + 60, d->log);
    if (t < 0)
        return FALSE;
    bench_push(p->first_byte_s, t - a);
    return TRUE;
}

static gboolean power_rounds(FloorDomain *d, BenchPower *p, const Lever *lv, GMainContext *loop_ctx)
{
    if (lv->fill && guest_cmd(d->dom, loop_ctx, FILL_CACHE) < 0)
        return FALSE;
    for (int i = 0; i < opt_power_n; i++)
        if (!power_round(d, p, lv, loop_ctx))
            return FALSE;
    bench_note("power floor: %s: save p50 %.2f s (job %.2f s), restore %.2f s (first byte %.2f s), image %.1f MiB",
               p->name, bench_median(p->save_s), bench_median(p->save_job_s), bench_median(p->restore_s),
               bench_median(p->first_byte_s), bench_median(p->image_bytes) / MIB);
    return TRUE;
}

/* Each list in order: the page cache is filled once, and a drop empties
 * it for the rest of the list. */
static const Lever plain_levers[] = {
    { "bypass host cache", FALSE, NULL, VIR_DOMAIN_SAVE_BYPASS_CACHE, VIR_DOMAIN_START_BYPASS_CACHE },
    { "drop guest caches", FALSE, DROP_CACHES, 0, 0 },
    { "64 MiB page cache", TRUE, NULL, 0, 0 },
    { "64 MiB page cache, drop caches", FALSE, DROP_CACHES, 0, 0 },
    { "64 MiB page cache, drop, zero free", FALSE, ZERO_FREE, 0, 0 },
};

static const Lever init_on_free_levers[] = {
    { "init_on_free=1", FALSE, NULL, 0, 0 },
    { "init_on_free=1, drop guest caches", FALSE, DROP_CACHES, 0, 0 },
    { "init_on_free=1, 64 MiB page cache", TRUE, NULL, 0, 0 },
    { "init_on_free=1, 64 MiB cache, drop", FALSE, DROP_CACHES, 0, 0 },
};

static gboolean run_levers(FloorDomain *d, const Lever *lv, gsize n, GMainContext *loop_ctx)
{
    for (gsize i = 0; i < n; i++) {
        BenchPower *p = bench_power_new(lv[i].name);
        g_ptr_array_add(bench_results.power_levers, p);
        if (!power_rounds(d, p, &lv[i], loop_ctx))
            return FALSE;
    }
    return TRUE;
}

/* What a restore costs before any memory is read: libvirt and QEMU
 * starting (paused, no image), and stopping again. */
static void start_stop_costs(virDomainPtr dom)
{
    for (int i = 0; i < opt_power_n; i++) {
        double a = bench_now();
        if (virDomainDestroy(dom) < 0)
            return;
        bench_push(bench_results.destroy_s, bench_now() - a);
        a = bench_now();
        if (virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED) < 0)
            return;
        bench_push(bench_results.start_paused_s, bench_now() - a);
    }
}

/* How long an orphaned process stays a zombie before init reaps it.
 * libvirt daemonizes QEMU, so it is one, and stopping a domain (a save
 * too) waits until it is gone.  <0 if it cannot tell. */
static double orphan_reap_once(void)
{
    int pfd[2];
    pid_t g = -1;

    if (pipe(pfd) < 0)
        return -1;
    pid_t child = fork();
    if (child == 0) {
        /* only async-signal-safe calls: this process has threads */
        pid_t grandchild = fork();
        if (grandchild == 0) {
            struct timespec ts = { 0, 100 * 1000 * 1000 }; /* outlive the parent */
            nanosleep(&ts, NULL);
            _exit(0);
        }
        if (write(pfd[1], &grandchild, sizeof grandchild) < 0)
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    ssize_t n = child > 0 ? read(pfd[0], &g, sizeof g) : -1;
    close(pfd[0]);
    if (child > 0)
        waitpid(child, NULL, 0);
    if (n != sizeof g || g <= 0)
        return -1;
    g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", (int)g);
    double deadline = bench_now() + 30, zombie = -1;
    while (bench_now() < deadline) {
        g_autofree char *stat = NULL;
        if (!g_file_get_contents(stat_path, &stat, NULL, NULL))
            return zombie < 0 ? 0 : bench_now() - zombie;
        const char *paren = strrchr(stat, ')');
        if (zombie < 0 && paren && g_str_has_prefix(paren, ") Z"))
            zombie = bench_now();
        g_usleep(1000);
    }
    return -1;
}

void bench_power_floor(virConnectPtr vc, GMainContext *loop_ctx)
{
    static const Lever as_is = { "as is (fresh guest)", FALSE, NULL, 0, 0 };
    BenchPower *fp = bench_results.floor_power;
    FloorDomain d = { 0 };

    g_free(fp->name);
    fp->name = g_strdup(as_is.name);
    if (!floor_up(vc, &d, "power", NULL)) {
        bench_results.floor_power_status = g_strdup("the floor domain did not boot");
        goto out;
    }
    bench_results.floor_memory_mb = virDomainGetMaxMemory(d.dom) / 1024;
    if (!power_rounds(&d, fp, &as_is, loop_ctx)) {
        bench_results.floor_power_status = g_strdup("managed save or restore of the floor domain failed");
        goto out;
    }
    if (!opt_power_levers)
        goto out;
    g_ptr_array_add(bench_results.power_levers, fp);
    if (!run_levers(&d, plain_levers, G_N_ELEMENTS(plain_levers), loop_ctx))
        goto out;
    floor_down(vc, &d);
    if (!floor_up(vc, &d, "power-iof", "init_on_free=1") ||
        !run_levers(&d, init_on_free_levers, G_N_ELEMENTS(init_on_free_levers), loop_ctx))
        goto out;
    start_stop_costs(d.dom);
    for (int i = 0; i < ORPHAN_ROUNDS; i++) {
        double r = orphan_reap_once();
        if (r >= 0)
            bench_push(bench_results.orphan_reap_s, r);
    }
out:
    floor_down(vc, &d);
}
