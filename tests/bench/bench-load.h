/* bench-load.h: shared state of oc-bench-load (the load and soak run). */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <glib.h>

#include "opencomputer.h"

/* Every outcome a checked operation can have; one counter each. */
typedef enum {
    LOAD_EXEC_RUN,    /* oc_exec_run of a tagged line generator, output compared */
    LOAD_SPAWN_LINES, /* the same through oc_exec_spawn and its callbacks */
    LOAD_SPAWN_CAT,   /* random bytes through cat's stdin and back, by hash */
    LOAD_FILE_WRITE,  /* oc_files_write of random bytes */
    LOAD_FILE_READ,   /* oc_files_read back, by hash (the new file and the previous one) */
    LOAD_FILE_GUEST,  /* sha256sum in the guest against the host's hash */
    LOAD_CYCLE,       /* create, exec (as LOAD_EXEC_RUN), kill */
    LOAD_N_OPS
} LoadOp;

typedef enum {
    LOAD_OK,
    LOAD_ERROR,    /* the call failed (or timed out) */
    LOAD_LOST,     /* output missing, repeated, reordered or damaged */
    LOAD_CROSSED,  /* output that belongs to another stream */
    LOAD_HASH,     /* file or cat bytes whose SHA-256 differs */
    LOAD_N_OUTCOMES
} LoadOutcome;

typedef struct {
    gint64 duration_us;     /* of the soak */
    guint sandboxes, streams;
    gint64 deadline;        /* monotonic end of the soak */
    gint stop;              /* atomic: a signal asked to stop */
    gint64 counts[LOAD_N_OPS][LOAD_N_OUTCOMES]; /* atomic */
    gint64 bytes_checked;   /* atomic: output and file bytes compared */
    GMutex lock;            /* guards failures */
    GPtrArray *failures;    /* the first messages, for the report */
    guint failures_total;
} LoadRun;

/* One exec stream: a thread that loops over the operations on one sandbox
 * until the deadline.  Its tag "k<sandbox>s<stream>i<iteration>" starts every
 * line it asks for, so output that went to the wrong stream is recognised. */
typedef struct {
    LoadRun *run;
    oc_sandbox *sb;
    guint sandbox, stream;
    guint64 iter;
    GRand *rand;
    char *prev_path;        /* the file written last time, read back this time */
    char *prev_hash;
    gint64 op_started;      /* atomic: monotonic start of the current call; 0 when idle */
    gint op;                /* atomic: its LoadOp */
    GThread *thread;
} LoadStream;

#define LOAD_FAILURES_KEPT 20
/* A call this long is reported as stuck while the run goes on. */
#define LOAD_STUCK_US (120 * G_USEC_PER_SEC)
/* Exec and stream calls get this much before they count as failed. */
#define LOAD_CALL_TIMEOUT_MS 300000

const char *load_op_name(LoadOp op);
void load_fail(LoadRun *run, LoadStream *st, LoadOp op, LoadOutcome outcome, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);
void load_count(LoadRun *run, LoadOp op, LoadOutcome outcome);

/* One round of every operation (the warm-up), or every round until the
 * deadline. */
void load_stream_round(LoadStream *st);
/* One exec.run of a line generator, checked (counted as LOAD_EXEC_RUN). */
void load_exec_lines(LoadStream *st);
gpointer load_stream_thread(gpointer data);
void load_stream_clear(LoadStream *st);

#endif
