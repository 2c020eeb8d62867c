/* bench-report.c: the table and the JSON. */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "bench.h"

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

static void json_power(JsonBuilder *b, const char *name, const BenchPower *p)
{
    if (name)
        json_builder_set_member_name(b, name);
    const struct {
        const char *key;
        GArray *values;
    } arrays[] = {
        { "save_s", p->save_s }, { "save_job_s", p->save_job_s }, { "sync_s", p->sync_s },
        { "guest_cmd_s", p->prep_s }, { "restore_s", p->restore_s },
        { "restore_first_byte_s", p->first_byte_s }, { "image_bytes", p->image_bytes },
    };
    json_builder_begin_object(b);
    json_str(b, "variant", p->name);
    for (gsize i = 0; i < G_N_ELEMENTS(arrays); i++)
        json_arr(b, arrays[i].key, arrays[i].values);
    json_builder_end_object(b);
}

/* The --power-levers table: one row a variant, medians. */
static void print_levers(const BenchResults *res)
{
    if (res->power_levers->len == 0)
        return;
    printf("\npower levers: raw libvirt on floor domains, p50 of N=%d each (s, MiB)\n", opt_power_n);
    printf("%-36s %7s %7s %7s %8s %10s %9s %9s\n", "variant", "save", "job", "fsync", "restore",
           "1st byte", "image", "guest cmd");
    for (guint i = 0; i < res->power_levers->len; i++) {
        const BenchPower *p = res->power_levers->pdata[i];
        char v[7][32];
        fmt_num(v[0], sizeof v[0], bench_median(p->save_s), 2, "");
        fmt_num(v[1], sizeof v[1], bench_median(p->save_job_s), 2, "");
        fmt_num(v[2], sizeof v[2], bench_median(p->sync_s), 3, "");
        fmt_num(v[3], sizeof v[3], bench_median(p->restore_s), 2, "");
        fmt_num(v[4], sizeof v[4], bench_median(p->first_byte_s), 2, "");
        fmt_num(v[5], sizeof v[5], bench_median(p->image_bytes) / MIB, 1, "");
        fmt_num(v[6], sizeof v[6], bench_median(p->prep_s), 2, "");
        printf("%-36s %7s %7s %7s %8s %10s %9s %9s\n", p->name, v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    }
    printf("start paused, no image: p50 %.2f s; destroy: p50 %.2f s (N=%u); an orphaned process is "
           "reaped by init after p50 %.2f s (min %.2f, max %.2f, N=%u); boot to first byte:",
           bench_median(res->start_paused_s), bench_median(res->destroy_s), res->destroy_s->len,
           bench_median(res->orphan_reap_s), bench_min(res->orphan_reap_s), bench_pct(res->orphan_reap_s, 1.0),
           res->orphan_reap_s->len);
    for (guint i = 0; i < res->power_boot_s->len; i++)
        printf(" %.2f s", g_array_index(res->power_boot_s, double, i));
    printf(" (plain, then init_on_free=1)\n");
}

/* Issue 5: fast create, pool and fork. */
static void fork_rows(const BenchResults *res)
{
    double sc = bench_median(res->snap_create_s), sf = bench_median(res->snap_floor_s);
    double se = bench_median(res->snap_create_exec_s), pe = bench_median(res->pool_create_exec_s);
    double f1 = bench_median(res->fork1_s), f8 = bench_median(res->fork8_s);
    double disk = bench_pct(res->fork_disk_bytes, 1.0) / MIB;
    gboolean have_s = !isnan(sc) && !isnan(sf), have_p = !isnan(pe) && !isnan(se);
    gboolean have_f = !isnan(f1) && !isnan(f8), have_d = !isnan(disk);
    Row rows[] = {
        { "create from snapshot (s)", sc, sf, NAN, 2, ratio(sc, sf), NAN, "ours/raw restore <= 1.25",
          verdict(have_s, have_s && sc <= 1.25 * sf) },
        { "pool create->exec p50 (s)", pe, se, NAN, 3, ratio(pe, se), NAN,
          "ours/snapshot create <= 0.05", verdict(have_p, have_p && pe * 20 <= se) },
        { "8-way fork (s)", f8, f1, NAN, 2, ratio(f8, f1), NAN, "8-way/single <= 2",
          verdict(have_f, have_f && f8 <= 2 * f1) },
        { "fork disk, max (MiB)", disk, NAN, NAN, 2, NAN, NAN, "< 1 MiB", verdict(have_d, disk < 1) },
    };
    print_table(rows, G_N_ELEMENTS(rows));
    printf("fast create:  N=%u; ours = oc_sandbox_create from the template's ready snapshot (floor: "
           "virDomainRestoreFlags of the same image onto a fresh overlay, p50 %.2f s); to the first "
           "exec p50 %.2f s; pool = create claimed from a pool of 1 to the first exec, N=%u, "
           "p50/p90 %.3f/%.3f s; forks: N=%u single, %u 8-way, of a checkpoint of a %d MiB "
           "sandbox, disk per fork p50 %.2f MiB\n",
           res->snap_create_s->len, sf, se, res->pool_create_exec_s->len, pe,
           bench_pct(res->pool_create_exec_s, 0.9), res->fork1_s->len, res->fork8_s->len,
           OC_DEFAULT_MEMORY_MB, bench_median(res->fork_disk_bytes) / MIB);
    if (res->fork_status)
        printf("fork:         NOT MEASURED: %s\n", res->fork_status);
}

void bench_report(void)
{
    const BenchResults *res = &bench_results;
    GError *err = NULL;

    /* ---- table ---- */
    double ex_o = bench_median(res->ours_exec_ms), ex_p = bench_median(res->peer_exec_ms);
    double w_o = bench_median(res->ours_write_mibs), r_o = bench_median(res->ours_read_mibs);
    double w_f = bench_median(res->raw_h2g_mibs), r_f = bench_median(res->raw_g2h_mibs);
    double w_p = res->peer_write_mibs, r_p = res->peer_read_mibs;
    double c_o = bench_median(res->ours_create_s), c_f = bench_median(res->floor_create_s);
    const BenchPower *po = res->ours_power, *pf = res->floor_power;
    double h_o = bench_median(po->save_s), h_f = bench_median(pf->save_s);
    double k_o = bench_median(po->restore_s), k_f = bench_median(pf->restore_s);
    double k_fb = bench_median(pf->first_byte_s);
    double fb_o = bench_median(res->ours_first_byte_ms), fb_f = bench_median(res->ours_echo_run_ms);
    double fb_p = bench_median(res->peer_echo_ms);
    double key_o = bench_median(res->ours_key_ms), key_f = bench_median(res->ours_ping_ms);
    double st_o = bench_median(res->ours_stream_mibs), st_f = bench_median(res->raw_echo_mibs);
    char wname[64], rname[64], sname[64], ttw[64], ttr[64];
    g_snprintf(wname, sizeof wname, "file write %dMiB (MiB/s)", opt_file_mib);
    g_snprintf(sname, sizeof sname, "cat stream %dMiB (MiB/s)", opt_file_mib);
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
    gboolean have_h = !isnan(h_o) && !isnan(h_f), have_k = !isnan(k_o) && !isnan(k_f);
    gboolean pass_h = have_h && h_o <= 1.25 * h_f, pass_k = have_k && k_o <= 1.25 * k_f;
    gboolean have_fb = !isnan(fb_o) && !isnan(fb_f), have_key = !isnan(key_o) && !isnan(key_f);
    gboolean have_st = !isnan(st_o) && !isnan(st_f);
    gboolean pass_fb = have_fb && fb_o <= 1.2 * fb_f, pass_key = have_key && key_o <= 2 * key_f;
    gboolean pass_st = have_st && st_o >= 0.4 * st_f;
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
        { "hibernate p50 (s)", h_o, h_f, NAN, 2, ratio(h_o, h_f), NAN, "ours/floor <= 1.25", verdict(have_h, pass_h) },
        { "wake p50 (s)", k_o, k_f, NAN, 2, ratio(k_o, k_f), NAN, "ours/floor <= 1.25", verdict(have_k, pass_k) },
        { "exec first byte p50 (ms)", fb_o, fb_f, fb_p, 2, ratio(fb_o, fb_f), ratio(fb_p, fb_o),
          "ours/exec.run <= 1.2", verdict(have_fb, pass_fb) },
        { "pty keystroke echo p50 (ms)", key_o, key_f, NAN, 2, ratio(key_o, key_f), NAN,
          "ours/ping <= 2", verdict(have_key, pass_key) },
        { sname, st_o, st_f, NAN, 1, ratio(st_o, st_f), NAN, "ours/raw echo >= 0.4", verdict(have_st, pass_st) },
    };
    print_table(rows, G_N_ELEMENTS(rows));
    fork_rows(res);
    printf("\n");
    printf("exec true:    ours p50/p90/min %.2f/%.2f/%.2f ms (argv, no shell; N=%u after %d warmups); "
           "ours via sh -c p50 %.2f ms; peer p50/p90/min %.2f/%.2f/%.2f ms\n",
           ex_o, bench_pct(res->ours_exec_ms, 0.9), bench_min(res->ours_exec_ms), res->ours_exec_ms->len,
           opt_exec_warmup, bench_median(res->ours_exec_sh_ms), ex_p, bench_pct(res->peer_exec_ms, 0.9),
           bench_min(res->peer_exec_ms));
    printf("files:        ours and floor on %d MiB (median of runs: ours write %u, read %u; floor "
           "h2g %u, g2h %u), peer on %d MiB (1 run; guest-file-write %zu KiB and guest-file-read "
           "%u KiB per command, base64, timed with open/close); floor = raw virtio-serial, "
           "write = host->guest, read = guest->host\n",
           opt_file_mib, res->ours_write_mibs->len, res->ours_read_mibs->len, res->raw_h2g_mibs->len,
           res->raw_g2h_mibs->len, opt_peer_file_mib, bench_qga_write_chunk() >> 10, QGA_READ_CHUNK >> 10);
    printf("create:       N=%u; floor = virDomainCreateXML -> agent's first byte (overlay made "
           "before the clock, median %.3f s; CreateXML alone median %.2f s); ours = "
           "oc_sandbox_create + oc_exec_run(true)\n",
           res->ours_create_s->len, bench_median(res->floor_overlay_s), bench_median(res->floor_createxml_s));
    printf("power:        N=%u ours, %u floor; memory %u MiB ours, %u MiB floor; floor = virDomainManagedSave "
           "and virDomainCreate (restore) of a persistent domain of the library's XML; floor restore->agent's "
           "first byte p50 %.2f s (ours wake / that %.2f); floor save job (migration) p50 %.2f s, fsync of "
           "its image %.3f s; image p50 ours %.1f MiB, floor %.1f MiB\n",
           po->save_s->len, pf->save_s->len, res->ours_memory_mb, res->floor_memory_mb, k_fb, ratio(k_o, k_fb),
           bench_median(pf->save_job_s), bench_median(pf->sync_s), bench_median(po->image_bytes) / MIB,
           bench_median(pf->image_bytes) / MIB);
    printf("first byte:   N=%u, alternating; ours = oc_exec_spawn(\"echo hi\") to the first on_stdout, "
           "p50/p90/min %.2f/%.2f/%.2f ms; floor = oc_exec_run(\"echo hi\") p50/p90/min %.2f/%.2f/%.2f ms; "
           "peer = guest-exec sh -c \"echo hi\" polled until exited (qga gives output only then) p50 %.2f ms\n",
           res->ours_first_byte_ms->len, fb_o, bench_pct(res->ours_first_byte_ms, 0.9),
           bench_min(res->ours_first_byte_ms), fb_f, bench_pct(res->ours_echo_run_ms, 0.9),
           bench_min(res->ours_echo_run_ms), fb_p);
    printf("keystroke:    N=%u, alternating; ours = 1 byte into a PTY running cat until the terminal's echo "
           "reaches on_stdout, p50/p90/min %.2f/%.2f/%.2f ms; floor = agent PING->PONG on the same "
           "connection, p50/p90/min %.3f/%.3f/%.3f ms\n",
           res->ours_key_ms->len, key_o, bench_pct(res->ours_key_ms, 0.9), bench_min(res->ours_key_ms), key_f,
           bench_pct(res->ours_ping_ms, 0.9), bench_min(res->ours_ping_ms));
    printf("stream:       %d MiB through cat, median of ours %u (complete), floor %u; ours = session stdin/stdout "
           "(oc_exec_send_stdin from one thread, 1 MiB calls) to the last on_stdout byte; floor = the "
           "same bytes echoed by dd through the raw oc.raw port (bench domain), first write to last "
           "byte back; one-way raw h2g %.1f, g2h %.1f MiB/s\n",
           opt_file_mib, res->ours_stream_mibs->len, res->raw_echo_mibs->len, w_f, r_f);
    const struct {
        const char *label;
        const char *status;
    } unmeasured[] = {
        { "ours:", res->ours_status }, { "raw floor:", res->floor_status }, { "peer (qga):", res->peer_status },
        { "create:", res->create_status }, { "power, ours:", res->ours_power_status },
        { "power, floor:", res->floor_power_status }, { "stream, ours:", res->stream_status },
        { "raw echo:", res->raw_echo_status },
    };
    for (gsize i = 0; i < G_N_ELEMENTS(unmeasured); i++)
        if (unmeasured[i].status)
            printf("%-13s NOT MEASURED: %s\n", unmeasured[i].label, unmeasured[i].status);
    if (res->ours_wake_note)
        printf("wake, ours:   NOT ALL RESTORED: %s\n", res->ours_wake_note);
    if (res->ours_stream_note)
        printf("stream, ours: OUTPUT SKIPPED: %s\n", res->ours_stream_note);
    if (res->ours_memory_mb && res->floor_memory_mb && res->ours_memory_mb != res->floor_memory_mb)
        printf("power:        MEMORY DIFFERS: ours %u MiB, floor %u MiB\n", res->ours_memory_mb,
               res->floor_memory_mb);
    printf("accelerator:  %s; targets are informational, not assertions\n", res->accelerator);
    print_levers(res);

    /* ---- JSON ---- */
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_str(b, "accelerator", res->accelerator);
    json_str(b, "template_disk", bench_boot.template_disk);
    json_builder_set_member_name(b, "params");
    json_builder_begin_object(b);
    json_int(b, "exec_n", opt_exec_n);
    json_int(b, "exec_warmup", opt_exec_warmup);
    json_int(b, "create_n", opt_create_n);
    json_int(b, "file_mib", opt_file_mib);
    json_int(b, "peer_file_mib", opt_peer_file_mib);
    json_int(b, "peer_write_chunk_bytes", (gint64)bench_qga_write_chunk());
    json_int(b, "peer_read_chunk_bytes", QGA_READ_CHUNK);
    json_int(b, "reps", opt_reps);
    json_int(b, "power_n", opt_power_n);
    json_int(b, "memory_mb", BENCH_MEMORY_MB);
    json_int(b, "keys", opt_keys);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "raw");
    json_builder_begin_object(b);
    json_arr(b, "ours_exec_true_ms", res->ours_exec_ms);
    json_arr(b, "ours_exec_true_sh_ms", res->ours_exec_sh_ms);
    json_arr(b, "peer_exec_true_ms", res->peer_exec_ms);
    json_arr(b, "ours_write_mibs", res->ours_write_mibs);
    json_arr(b, "ours_read_mibs", res->ours_read_mibs);
    json_arr(b, "floor_raw_h2g_mibs", res->raw_h2g_mibs);
    json_arr(b, "floor_raw_g2h_mibs", res->raw_g2h_mibs);
    json_num(b, "peer_write_mibs", res->peer_write_mibs);
    json_num(b, "peer_read_mibs", res->peer_read_mibs);
    json_arr(b, "ours_create_first_exec_s", res->ours_create_s);
    json_arr(b, "floor_create_first_byte_s", res->floor_create_s);
    json_arr(b, "floor_createxml_s", res->floor_createxml_s);
    json_arr(b, "floor_overlay_s", res->floor_overlay_s);
    json_arr(b, "ours_kill_s", res->ours_kill_s);
    json_str(b, "floor_raw_h2g_dd", res->raw_h2g_dd);
    json_str(b, "floor_raw_g2h_dd", res->raw_g2h_dd);
    json_power(b, "ours_power", po);
    json_power(b, "floor_power", pf);
    json_int(b, "ours_memory_mb", res->ours_memory_mb);
    json_int(b, "floor_memory_mb", res->floor_memory_mb);
    json_builder_set_member_name(b, "power_levers");
    json_builder_begin_array(b);
    for (guint i = 0; i < res->power_levers->len; i++)
        json_power(b, NULL, res->power_levers->pdata[i]);
    json_builder_end_array(b);
    json_arr(b, "start_paused_s", res->start_paused_s);
    json_arr(b, "destroy_s", res->destroy_s);
    json_arr(b, "orphan_reap_s", res->orphan_reap_s);
    json_arr(b, "power_boot_s", res->power_boot_s);
    json_arr(b, "ours_first_byte_ms", res->ours_first_byte_ms);
    json_arr(b, "ours_exec_echo_ms", res->ours_echo_run_ms);
    json_arr(b, "peer_exec_echo_ms", res->peer_echo_ms);
    json_arr(b, "ours_keystroke_ms", res->ours_key_ms);
    json_arr(b, "ours_ping_ms", res->ours_ping_ms);
    json_arr(b, "ours_stream_mibs", res->ours_stream_mibs);
    json_arr(b, "ours_stream_skipped_bytes", res->ours_stream_skipped);
    json_arr(b, "floor_raw_echo_mibs", res->raw_echo_mibs);
    json_arr(b, "ours_snapshot_create_s", res->snap_create_s);
    json_arr(b, "ours_snapshot_create_exec_s", res->snap_create_exec_s);
    json_arr(b, "floor_snapshot_restore_s", res->snap_floor_s);
    json_arr(b, "ours_pool_create_exec_s", res->pool_create_exec_s);
    json_arr(b, "ours_fork1_s", res->fork1_s);
    json_arr(b, "ours_fork8_s", res->fork8_s);
    json_arr(b, "ours_fork_disk_bytes", res->fork_disk_bytes);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "summary");
    json_builder_begin_object(b);
    json_num(b, "ours_exec_p50_ms", ex_o);
    json_num(b, "ours_exec_p90_ms", bench_pct(res->ours_exec_ms, 0.9));
    json_num(b, "ours_exec_min_ms", bench_min(res->ours_exec_ms));
    json_num(b, "ours_exec_sh_p50_ms", bench_median(res->ours_exec_sh_ms));
    json_num(b, "peer_exec_p50_ms", ex_p);
    json_num(b, "peer_exec_p90_ms", bench_pct(res->peer_exec_ms, 0.9));
    json_num(b, "peer_exec_min_ms", bench_min(res->peer_exec_ms));
    json_num(b, "ours_write_mibs", w_o);
    json_num(b, "ours_read_mibs", r_o);
    json_num(b, "floor_write_mibs", w_f);
    json_num(b, "floor_read_mibs", r_f);
    json_num(b, "peer_write_mibs", w_p);
    json_num(b, "peer_read_mibs", r_p);
    json_num(b, "ours_create_s", c_o);
    json_num(b, "floor_create_s", c_f);
    json_num(b, "ours_hibernate_s", h_o);
    json_num(b, "floor_managedsave_s", h_f);
    json_num(b, "ours_wake_s", k_o);
    json_num(b, "floor_restore_s", k_f);
    json_num(b, "floor_restore_first_byte_s", k_fb);
    json_num(b, "ours_image_mib", bench_median(po->image_bytes) / MIB);
    json_num(b, "floor_image_mib", bench_median(pf->image_bytes) / MIB);
    json_num(b, "ours_first_byte_p50_ms", fb_o);
    json_num(b, "ours_exec_echo_p50_ms", fb_f);
    json_num(b, "peer_exec_echo_p50_ms", fb_p);
    json_num(b, "ours_keystroke_p50_ms", key_o);
    json_num(b, "ours_ping_p50_ms", key_f);
    json_num(b, "ours_stream_mibs", st_o);
    json_num(b, "floor_raw_echo_mibs", st_f);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "targets");
    json_builder_begin_object(b);
    json_str(b, "exec_peer_over_ours_ge_5", verdict(have_ex, pass_ex));
    json_str(b, "write_ge_half_floor", verdict(have_w, pass_w));
    json_str(b, "read_ge_half_floor", verdict(have_r, pass_r));
    json_str(b, "write_ge_30x_peer", verdict(have_wp, pass_wp));
    json_str(b, "read_ge_30x_peer", verdict(have_rp, pass_rp));
    json_str(b, "create_le_1_25_floor", verdict(have_c, pass_c));
    json_str(b, "hibernate_le_1_25_floor", verdict(have_h, pass_h));
    json_str(b, "wake_le_1_25_floor", verdict(have_k, pass_k));
    json_str(b, "first_byte_le_1_2_exec_run", verdict(have_fb, pass_fb));
    json_str(b, "keystroke_le_2_ping", verdict(have_key, pass_key));
    json_str(b, "stream_ge_0_4_raw_echo", verdict(have_st, pass_st));
    json_builder_end_object(b);
    json_builder_set_member_name(b, "status");
    json_builder_begin_object(b);
    json_str(b, "ours", res->ours_status);
    json_str(b, "floor", res->floor_status);
    json_str(b, "peer", res->peer_status);
    json_str(b, "create", res->create_status);
    json_str(b, "ours_power", res->ours_power_status);
    json_str(b, "floor_power", res->floor_power_status);
    json_str(b, "ours_wake", res->ours_wake_note);
    json_str(b, "stream", res->stream_status);
    json_str(b, "stream_skipped", res->ours_stream_note);
    json_str(b, "raw_echo", res->raw_echo_status);
    json_builder_end_object(b);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    char *js = json_to_string(root, FALSE);
    if (opt_json && !g_file_set_contents(opt_json, js, -1, &err)) {
        bench_note("cannot write %s: %s", opt_json, err->message);
        g_clear_error(&err);
    }
    printf("JSON %s\n", js);
    g_free(js);
    json_node_unref(root);
    g_object_unref(b);
}
