/* bench.c: oc-bench, libopencomputer against its floors and its peer.
 *
 * One run, one host, one template image, five comparisons:
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
 *  4. hibernate, wake:   ours (oc_sandbox_hibernate, oc_sandbox_wake) against
 *                        virDomainManagedSave and virDomainCreate of a
 *                        persistent domain of the same XML and memory.
 *  5. streaming:         oc_exec_spawn's first byte against oc_exec_run, a
 *                        PTY keystroke's echo against an agent ping, and
 *                        cat through stdin/stdout against the same bytes
 *                        echoed through the raw port (bench-stream.c).
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
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bench.h"
#include "bench-cli.h"
#include "image/store.h"
#include "virt/power.h"

/* ---- options ---- */

char *opt_uri = NULL;
static char *opt_state_dir = NULL;
char *opt_json = NULL;
int opt_exec_n = 50;
int opt_exec_warmup = 3;
int opt_create_n = 3;
int opt_file_mib = 64;
int opt_peer_file_mib = 8;
int opt_reps = 3;
int opt_power_n = 3;
gboolean opt_skip_power = FALSE;
gboolean opt_power_levers = FALSE;
int opt_keys = 200;
gboolean opt_skip_stream = FALSE;
static gboolean opt_skip_create = FALSE;
static gboolean opt_skip_fork = FALSE;
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
    { "skip-fork", 0, 0, G_OPTION_ARG_NONE, &opt_skip_fork,
      "Skip snapshot create, pool and fork benchmarks", NULL },
    { "power-n", 0, 0, G_OPTION_ARG_INT, &opt_power_n, "Hibernate+wake rounds per side (3)", "N" },
    { "skip-power", 0, 0, G_OPTION_ARG_NONE, &opt_skip_power, "Skip the hibernate/wake benchmark", NULL },
    { "power-levers", 0, 0, G_OPTION_ARG_NONE, &opt_power_levers,
      "Also measure save/restore variants on floor domains (a few minutes more)", NULL },
    { "keys", 0, 0, G_OPTION_ARG_INT, &opt_keys, "Timed PTY keystrokes, at most 4000 (200)", "N" },
    { "skip-stream", 0, 0, G_OPTION_ARG_NONE, &opt_skip_stream,
      "Skip the streaming benchmarks (first byte, keystroke echo, cat stream)", NULL },
    { "skip-peer", 0, 0, G_OPTION_ARG_NONE, &opt_skip_peer_domain,
      "Skip the bench domain (raw floor and qemu-guest-agent peer)", NULL },
    { NULL }
};

/* ---- results ---- */

BenchResults bench_results;
BenchBootFiles bench_boot;

static GArray *darray(void)
{
    return g_array_new(FALSE, FALSE, sizeof(double));
}

BenchPower *bench_power_new(const char *name)
{
    BenchPower *p = g_new0(BenchPower, 1);
    p->name = g_strdup(name);
    p->save_s = darray();
    p->save_job_s = darray();
    p->sync_s = darray();
    p->prep_s = darray();
    p->restore_s = darray();
    p->first_byte_s = darray();
    p->image_bytes = darray();
    return p;
}

void bench_push(GArray *a, double v)
{
    g_array_append_val(a, v);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile; NAN for an empty array. */
double bench_pct(GArray *a, double p)
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

double bench_min(GArray *a)
{
    return bench_pct(a, 0.0);
}

double bench_median(GArray *a)
{
    return bench_pct(a, 0.5);
}

/* ---- helpers ---- */

double bench_now(void)
{
    return g_get_monotonic_time() / 1e6;
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "oc-bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *bench_virt_msg(void)
{
    virErrorPtr e = virGetLastError();
    return e && e->message ? e->message : "unknown libvirt error";
}

guint8 *bench_pattern(gsize len, guint32 seed)
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

/* Size of dom's managed save image, where the library looks for it; -1 if
 * there is none. */
double bench_save_image_bytes(virDomainPtr dom)
{
    g_autofree char *path = virt_save_image_path(dom);
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size : -1;
}

void bench_report_oc(const char *what, int rc, oc_error *e)
{
    bench_note("%s failed: %s (%s)", what, e ? oc_error_message(e) : "no message", oc_strerror(rc));
    oc_error_free(e);
}

/* ---- cleanup: every domain, sandbox and file this run made ---- */

static GMutex cleanup_lock;
static GPtrArray *cleanup_domains; /* names of bench domains */
char *bench_tmpdir;
static char *state_dir;
char *bench_tag;
static gboolean cleaned;

void bench_track_domain(const char *name)
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
    virDomainDestroy(d); /* a transient one is gone once destroyed */
    /* A persistent one (the power floor) may hold a managed save image. */
    if (virDomainIsPersistent(d) == 1 && virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0)
        bench_note("cleanup: cannot undefine %s: %s", name, bench_virt_msg());
    virDomainFree(d);
}

void bench_untrack_domain(virConnectPtr conn, const char *name)
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
                        bench_note("cleanup: killing sandbox %s", id);
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
        bench_note("caught signal %d: cleaning up", sig);
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

/* ---- 3: create to first exec, floor and ours in turn ---- */

static void bench_create(oc_context *ctx, virConnectPtr vc)
{
    for (int i = 0; i < opt_create_n; i++) {
        double f = bench_floor_create_once(vc, i);
        if (f < 0) {
            bench_results.create_status = g_strdup("floor create failed");
            return;
        }
        bench_push(bench_results.floor_create_s, f);
        double o = bench_ours_create_once(ctx, NULL, NULL);
        if (o < 0) {
            bench_results.create_status = g_strdup("ours create failed");
            return;
        }
        bench_push(bench_results.ours_create_s, o);
        bench_note("create #%d: floor %.2f s, ours %.2f s", i + 1, f, o);
    }
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    if (!bench_cli_parse(entries, "- compare libopencomputer with its floors and qemu-guest-agent",
                         "oc-bench", &argc, &argv))
        return 2;
    /* The keystrokes make one line of a canonical-mode terminal, at most 4095 bytes. */
    if (opt_keys > 4000) {
        fprintf(stderr, "oc-bench: --keys is at most 4000\n");
        return 2;
    }
    if (opt_exec_n < 1 || opt_create_n < 0 || opt_file_mib < 1 || opt_peer_file_mib < 1 || opt_reps < 1 ||
        opt_power_n < 1 || opt_keys < 1) {
        fprintf(stderr, "oc-bench: counts and sizes must be positive\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Signals go to one thread, which cleans up; every later thread
     * (libvirt's, the library's) inherits the mask. */
    bench_cli_signal_thread(signal_thread);

    cleanup_domains = g_ptr_array_new_with_free_func(g_free);
    atexit(cleanup_all);

    memset(&bench_results, 0, sizeof bench_results);
    bench_results.ours_exec_ms = darray();
    bench_results.ours_exec_sh_ms = darray();
    bench_results.peer_exec_ms = darray();
    bench_results.ours_write_mibs = darray();
    bench_results.ours_read_mibs = darray();
    bench_results.raw_h2g_mibs = darray();
    bench_results.raw_g2h_mibs = darray();
    bench_results.ours_create_s = darray();
    bench_results.floor_create_s = darray();
    bench_results.floor_createxml_s = darray();
    bench_results.floor_overlay_s = darray();
    bench_results.ours_kill_s = darray();
    bench_results.peer_write_mibs = bench_results.peer_read_mibs = -1;
    bench_results.ours_power = bench_power_new("ours");
    bench_results.floor_power = bench_power_new("floor");
    bench_results.power_levers = g_ptr_array_new();
    bench_results.start_paused_s = darray();
    bench_results.destroy_s = darray();
    bench_results.orphan_reap_s = darray();
    bench_results.power_boot_s = darray();
    bench_results.ours_first_byte_ms = darray();
    bench_results.ours_echo_run_ms = darray();
    bench_results.peer_echo_ms = darray();
    bench_results.ours_key_ms = darray();
    bench_results.ours_ping_ms = darray();
    bench_results.ours_stream_mibs = darray();
    bench_results.ours_stream_skipped = darray();
    bench_results.raw_echo_mibs = darray();
    bench_results.snap_create_s = darray();
    bench_results.snap_create_exec_s = darray();
    bench_results.snap_floor_s = darray();
    bench_results.pool_create_exec_s = darray();
    bench_results.fork1_s = darray();
    bench_results.fork8_s = darray();
    bench_results.fork_disk_bytes = darray();

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
        bench_report_oc("oc_context_new", rc, e);
        return 1;
    }
    bench_results.accelerator = g_strdup(oc_context_accelerator(ctx));
    bench_boot.domain_type = g_str_equal(bench_results.accelerator, "kvm") ? "kvm" : "qemu";
    if (!image_boot_paths(state_dir, &bench_boot.kernel, &bench_boot.initrd, &err) ||
        !(bench_boot.template_disk = image_template_disk(state_dir, "base", &err))) {
        bench_note("%s", err->message);
        return 1;
    }

    virSetErrorFunc(NULL, silent_virt_error);
    virConnectPtr vc = virConnectOpen(opt_uri ? opt_uri : "qemu:///system");
    if (!vc) {
        bench_note("cannot connect to libvirt: %s", bench_virt_msg());
        return 1;
    }
    g_autofree char *tmpl = g_build_filename(state_dir, "bench-XXXXXX", NULL);
    if (!g_mkdtemp_full(tmpl, 0755)) {
        bench_note("cannot create %s: %s", tmpl, g_strerror(errno));
        return 1;
    }
    chmod(tmpl, 0755);
    bench_tmpdir = g_strdup(tmpl);

    bench_ctx = g_main_context_new();
    bench_loop = g_main_loop_new(bench_ctx, FALSE);
    GThread *lt = g_thread_new("bench-loop", loop_thread, NULL);

    bench_note("state dir %s, accelerator %s, template %s", state_dir, bench_results.accelerator,
               bench_boot.template_disk);

    /* One VM at a time, so that nothing competes for the host's CPUs. */
    bench_ours(ctx, vc);
    if (opt_skip_peer_domain) {
        bench_results.floor_status = g_strdup("skipped");
        bench_results.peer_status = g_strdup("skipped");
    } else {
        bench_domain(vc, bench_ctx);
    }
    if (opt_skip_power)
        bench_results.floor_power_status = g_strdup("skipped");
    else
        bench_power_floor(vc, bench_ctx);
    if (opt_skip_create)
        bench_results.create_status = g_strdup("skipped");
    else
        bench_create(ctx, vc);
    if (opt_skip_fork)
        bench_results.fork_status = g_strdup("skipped");
    else
        bench_fork(ctx, vc);

    g_main_loop_quit(bench_loop);
    g_thread_join(lt);

    bench_report();


    virConnectClose(vc);
    oc_context_unref(ctx);
    cleanup_all();
    return 0;
}
