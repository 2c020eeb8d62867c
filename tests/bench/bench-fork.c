/* bench-fork.c: create from a template's ready snapshot against a raw
 * libvirt restore of the same image, create from the warm pool against
 * create from the snapshot, and an 8-way fork against a single one. */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>

#include "bench.h"
#include "image/checkpoints.h"
#include "virt/domain.h"
#include "virt/overlay.h"
#include "virt/saveimage.h"

#define FORK_WAY 8

static char *state_dir; /* STATE, from the template's disk path */

static void kill_one(oc_sandbox *sb)
{
    oc_error *e = NULL;
    int rc = oc_sandbox_kill(sb, 0, &e);

    if (rc)
        bench_report_oc("oc_sandbox_kill", rc, e);
    oc_sandbox_unref(sb);
}

/* The floor: virDomainRestoreFlags of the snapshot's image, its paths
 * moved to a fresh overlay and log of ours (the builder's are gone). */
static double floor_restore_once(virConnectPtr vc, const ImageCheckpoint *snap, int i)
{
    g_autofree char *mem = image_checkpoint_file(snap, "memory.save");
    g_autofree char *frozen = image_checkpoint_file(snap, "disk.qcow2");
    g_autofree char *dir = g_strdup_printf("%s/snap-floor-%d", bench_tmpdir, i);
    g_autofree char *xml = NULL;
    g_autoptr(VirtSaveImage) img = NULL;
    g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
    GError *err = NULL;
    virDomainPtr dom;
    double took;

    img = virt_save_image_read(mem, &err);
    if (!img || g_mkdir_with_parents(dir, 0755) < 0 || !virt_overlay_create(disk, frozen, &err)) {
        bench_note("snapshot floor: %s", err ? err->message : "cannot make its directory");
        g_clear_error(&err);
        return -1;
    }
    {
        /* The builder's directory (its disk's, and its console log's) is
         * gone: ours stands in for it. */
        g_autofree char *old_disk = virt_domain_xml_disk_path(img->xml, &err);
        g_autofree char *old_dir = old_disk ? g_path_get_dirname(old_disk) : NULL;
        if (!old_dir) {
            bench_note("snapshot floor: %s", err->message);
            g_clear_error(&err);
            return -1;
        }
        g_auto(GStrv) parts = g_strsplit(img->xml, old_dir, -1);
        xml = g_strjoinv(dir, parts);
    }
    bench_track_domain(snap->sandbox_id);
    double t0 = bench_now();
    int rc = virDomainRestoreFlags(vc, mem, xml, VIR_DOMAIN_SAVE_RUNNING);
    took = bench_now() - t0;
    if (rc < 0) {
        bench_note("snapshot floor: virDomainRestoreFlags: %s", bench_virt_msg());
        took = -1;
    }
    dom = virDomainLookupByName(vc, snap->sandbox_id);
    if (dom) {
        virDomainDestroy(dom);
        virDomainFree(dom);
    }
    bench_untrack_domain(vc, snap->sandbox_id);
    g_unlink(disk);
    return took;
}

/* A create from the template's ready snapshot, and on to the first exec. */
static void ours_create_once(oc_context *ctx)
{
    g_autofree char *origin = NULL;
    double create_s = -1, exec_s = bench_ours_create_once(ctx, &create_s, &origin);

    if (exec_s < 0)
        return;
    if (g_strcmp0(origin, "snapshot") != 0) {
        bench_note("snapshot create: origin %s, not snapshot", origin);
        return;
    }
    bench_push(bench_results.snap_create_s, create_s);
    bench_push(bench_results.snap_create_exec_s, exec_s);
}

static gboolean wait_pool(oc_context *pc)
{
    uint32_t ready = 0;

    for (int i = 0; i < 1800; i++) {
        if (oc_pool_status(pc, "base", &ready, NULL, NULL) == 0 && ready >= 1)
            return TRUE;
        g_usleep(100 * 1000);
    }
    bench_note("pool: no member ready after 180 s");
    return FALSE;
}

static void bench_pool(void)
{
    oc_context_options co = OC_CONTEXT_OPTIONS_INIT;
    oc_context *pc = NULL;
    oc_error *e = NULL;
    int rc;

    co.pool_size = 1;
    if ((rc = oc_context_new(&pc, &co, &e)) != 0) {
        bench_report_oc("oc_context_new(pool)", rc, e);
        return;
    }
    /* Each after the pool has refilled, so that the refill never
     * competes with a measurement. */
    for (int i = 0; i < opt_create_n; i++) {
        if (!wait_pool(pc))
            break;
        g_autofree char *origin = NULL;
        double p = bench_ours_create_once(pc, NULL, &origin);
        if (p >= 0 && g_strcmp0(origin, "pool") == 0)
            bench_push(bench_results.pool_create_exec_s, p);
        else if (p >= 0)
            bench_note("pool create: origin %s, not pool", origin);
    }
    oc_context_unref(pc);
}

static double overlay_bytes(oc_sandbox *sb)
{
    g_autofree char *disk = g_build_filename(state_dir, "sandboxes", oc_sandbox_id(sb),
                                             "disk.qcow2", NULL);
    struct stat st;
    return stat(disk, &st) == 0 ? (double)st.st_blocks * 512 : -1;
}

static void bench_forks(oc_context *ctx)
{
    oc_sandbox *src = NULL;
    oc_checkpoint *cp = NULL;
    oc_fork_options fo = OC_FORK_OPTIONS_INIT;
    oc_error *e = NULL;
    int rc;

    if ((rc = oc_sandbox_create(&src, ctx, NULL, &e)) != 0 ||
        (rc = oc_checkpoint_create(&cp, src, "bench", 0, &e)) != 0) {
        bench_report_oc("fork source", rc, e);
        bench_results.fork_status = g_strdup("no source checkpoint");
        if (src)
            kill_one(src);
        return;
    }
    kill_one(src); /* forks of a checkpoint need not its source */
    for (int round = 0; round < 3; round++) {
        for (guint n = 1; n <= FORK_WAY; n += FORK_WAY - 1) {
            oc_sandbox **made = NULL;
            fo.count = n;
            double t0 = bench_now();
            if ((rc = oc_sandbox_fork(&made, ctx, oc_checkpoint_id(cp), &fo, &e)) != 0) {
                bench_report_oc("oc_sandbox_fork", rc, e);
                e = NULL;
                continue;
            }
            bench_push(n == 1 ? bench_results.fork1_s : bench_results.fork8_s, bench_now() - t0);
            for (guint i = 0; i < n; i++) {
                bench_push(bench_results.fork_disk_bytes, overlay_bytes(made[i]));
                kill_one(made[i]);
            }
            oc_free(made);
        }
    }
    oc_checkpoint_delete(ctx, oc_checkpoint_id(cp), 0, NULL);
    oc_checkpoint_free(cp);
}

void bench_fork(oc_context *ctx, virConnectPtr vc)
{
    oc_error *e = NULL;
    g_autofree char *tdir = g_path_get_dirname(bench_boot.template_disk);
    g_autofree char *tsdir = g_path_get_dirname(tdir);
    g_autoptr(ImageCheckpoint) snap = NULL;
    GError *err = NULL;
    int built = 0, rc;

    state_dir = g_path_get_dirname(tsdir);
    double t0 = bench_now();
    if ((rc = oc_template_prepare(ctx, "base", 0, &built, &e)) != 0) {
        bench_report_oc("oc_template_prepare", rc, e);
        bench_results.fork_status = g_strdup("no ready snapshot");
        return;
    }
    if (built)
        bench_note("template base: ready snapshot built in %.1f s", bench_now() - t0);
    snap = image_template_snapshot(state_dir, "base", &err);
    if (!snap) {
        bench_results.fork_status = g_strdup(err->message);
        g_error_free(err);
        return;
    }
    /* Alternating, and in turn first: on a host that hands freed memory
     * back to its own hypervisor, guest RAM freed a moment ago is much
     * cheaper to fault in again than RAM freed seconds ago (measured: 512
     * MiB in 0.05 s against 2.2 s), so whoever follows a kill is helped. */
    for (int i = 0; i < opt_create_n; i++) {
        double f;
        if (i % 2 == 0)
            ours_create_once(ctx);
        if ((f = floor_restore_once(vc, snap, i)) >= 0)
            bench_push(bench_results.snap_floor_s, f);
        if (i % 2 == 1)
            ours_create_once(ctx);
    }
    bench_pool();
    bench_forks(ctx);
}
