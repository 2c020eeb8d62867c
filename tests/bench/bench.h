/* bench.h: what oc-bench's files share: options, the results, the helpers. */
#ifndef OC_BENCH_H
#define OC_BENCH_H

#include <glib.h>
#include <libvirt/libvirt.h>

#include "agent/agent.h"
#include "opencomputer.h"

#define MIB (1024.0 * 1024.0)
#define RAW_PORT "oc.raw"
#define QGA_PORT "org.qemu.guest_agent.0"
#define GUEST_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define QGA_READ_CHUNK (1u << 20)
/* Ours and every floor domain get the same memory: the save image and the
 * hibernate/wake times depend on it. */
#define BENCH_MEMORY_MB OC_DEFAULT_MEMORY_MB

/* ---- options (bench.c) ---- */

extern char *opt_uri;
extern char *opt_json;
extern int opt_exec_n;
extern int opt_exec_warmup;
extern int opt_create_n;
extern int opt_file_mib;
extern int opt_peer_file_mib;
extern int opt_reps;
extern int opt_power_n;
extern gboolean opt_skip_power;
extern gboolean opt_power_levers;
extern int opt_keys;
extern gboolean opt_skip_stream;

/* ---- results (bench.c) ---- */

/* Rounds of save then restore on one domain (hibernate then wake for ours);
 * arrays a side does not measure stay empty. */
typedef struct {
    char *name;
    GArray *save_s;       /* virDomainManagedSave, or oc_sandbox_hibernate */
    GArray *save_job_s;   /* libvirt's completed save job: the migration to the file */
    GArray *sync_s;       /* fsync of the image and its directory, after the save */
    GArray *prep_s;       /* a guest command run just before each save */
    GArray *restore_s;    /* virDomainCreateWithFlags, or oc_sandbox_wake */
    GArray *first_byte_s; /* from the restore call to the agent's first byte */
    GArray *image_bytes;  /* the managed save image, right after the save */
} BenchPower;

BenchPower *bench_power_new(const char *name);

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
    BenchPower *ours_power, *floor_power;
    GPtrArray *power_levers;   /* BenchPower *, with --power-levers */
    GArray *start_paused_s;    /* cold start without the guest running, no image */
    GArray *destroy_s;
    GArray *orphan_reap_s;     /* an orphaned process's exit until it is reaped */
    GArray *power_boot_s;      /* floor domains' boot to the agent's first byte */
    guint ours_memory_mb, floor_memory_mb;
    char *ours_power_status;   /* NULL if measured, else why not */
    char *floor_power_status;
    char *ours_wake_note;      /* set if a wake was not OC_WAKE_RESTORED */
    /* streaming (issue 4), "echo hi" in the sh -c form on every side */
    GArray *ours_first_byte_ms; /* oc_exec_spawn to the first on_stdout */
    GArray *ours_echo_run_ms;   /* oc_exec_run, alternating with the above */
    GArray *peer_echo_ms;       /* guest-exec, polled until it exited (its output comes then) */
    GArray *ours_key_ms;        /* one byte into a PTY until its echo is on on_stdout */
    GArray *ours_ping_ms;       /* agent PING to PONG, alternating with the above */
    GArray *ours_stream_mibs;   /* cat through a session's stdin and stdout, complete transfers */
    GArray *ours_stream_skipped; /* bytes each transfer's handle skipped */
    GArray *raw_echo_mibs;      /* the same bytes echoed through the raw port */
    char *stream_status;        /* NULL if measured, else why not */
    char *ours_stream_note;     /* set if a transfer skipped output */
    char *raw_echo_status;
    /* checkpoints, forks, fast create (issue 5) */
    GArray *snap_create_s;      /* oc_sandbox_create from the template's ready snapshot */
    GArray *snap_create_exec_s; /* the same, to the first oc_exec_run(true) */
    GArray *snap_floor_s;       /* virDomainRestoreFlags of the same image */
    GArray *pool_create_exec_s; /* create claimed from the pool, to the first exec */
    GArray *fork1_s, *fork8_s;  /* oc_sandbox_fork of 1 and of 8, wall time */
    GArray *fork_disk_bytes;    /* a fork's overlay right after creation */
    char *fork_status;          /* NULL if measured, else why not */
} BenchResults;

extern BenchResults bench_results;

typedef struct {
    const char *domain_type;
    char *kernel, *initrd, *template_disk;
} BenchBootFiles;

extern BenchBootFiles bench_boot;

extern char *bench_tmpdir;
extern char *bench_tag; /* "oc_bench_pid=PID" metadata on our sandboxes */

/* ---- helpers (bench.c) ---- */

void bench_push(GArray *a, double v);
double bench_pct(GArray *a, double p);
double bench_min(GArray *a);
double bench_median(GArray *a);
double bench_now(void);
void bench_note(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void bench_report_oc(const char *what, int rc, oc_error *e);
guint8 *bench_pattern(gsize len, guint32 seed);
const char *bench_virt_msg(void);
void bench_track_domain(const char *name);
void bench_untrack_domain(virConnectPtr conn, const char *name);
double bench_save_image_bytes(virDomainPtr dom);

/* ---- watchdog (bench-ours.c): library stream and file calls have no timeout ---- */

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
} BenchWatchdog;

void bench_watchdog_arm(BenchWatchdog *w, oc_sandbox *sb, int secs, const char *what);
/* After a library call made under the watchdog: TRUE if it returned OC_OK
 * in time.  Otherwise reports it (which frees e) and puts why in *status. */
gboolean bench_watched_ok(BenchWatchdog *wd, const char *what, int rc, oc_error *e, char **status);

/* ---- the measurements ---- */

/* bench-ours.c */
gboolean bench_ours(oc_context *ctx, virConnectPtr vc);
/* oc_sandbox_create then oc_exec_run(true), killed after: seconds to the
 * exec's end, < 0 on failure.  create_s (nullable): to create's return;
 * origin (nullable, g_free): how the library made it. */
double bench_ours_create_once(oc_context *ctx, double *create_s, char **origin);

/* bench-stream.c */
void bench_stream_ours(oc_sandbox *sb);

/* bench-domain.c */
gboolean bench_guest_sh(AgentConn *conn, const char *cmd, guint timeout_ms, AgentExecResult *res,
                        GError **error);
char *bench_res_text(GByteArray *b);
char *bench_domain_xml(const char *name, const char *disk, const char *log, gboolean extra);
char *bench_channel_path(virDomainPtr dom, const char *name);
double bench_agent_first_byte(virDomainPtr dom, double deadline, const char *log);
gboolean bench_domain(virConnectPtr vc, GMainContext *loop_ctx);
double bench_floor_create_once(virConnectPtr vc, int i);

/* bench-power.c */
void bench_power_floor(virConnectPtr vc, GMainContext *loop_ctx);

/* bench-fork.c */
void bench_fork(oc_context *ctx, virConnectPtr vc);

/* bench-qga.c */
gsize bench_qga_write_chunk(void);
void bench_qga_peer(virDomainPtr dom, AgentConn *conn, const char *qga_dev);

/* bench-report.c */
void bench_report(void);

#endif
