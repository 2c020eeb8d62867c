/* agent.h: the host side of the agent protocol (docs/protocol.md).
 *
 * An AgentConn is one connection to one guest's oc-agent over a stream
 * socket (QEMU's unix socket for the virtio-serial port "oc.agent", or
 * `oc-agent --listen` in tests).  Its socket is read on the GMainContext
 * given at open (the oc_context's event thread); the blocking calls below may
 * be made from any other thread, concurrently: each runs on its own stream.
 * They must not be called from the event thread itself.
 *
 * Every error is in OC_ERROR (lib/util/error.h):
 * - a guest-side failure maps from the ERROR frame's code: NOENT ->
 *   OC_ENOTFOUND, EXIST -> OC_EEXISTS, ACCES -> OC_EPERM, LIMIT/NOSPC ->
 *   OC_ELIMIT, INVAL/NOTDIR/ISDIR/NOTEMPTY -> OC_EINVAL, IO -> OC_EIO,
 *   UNSUPPORTED -> OC_EUNSUPPORTED, PROTOCOL/other -> OC_EAGENT; the
 *   message is the agent's, prefixed by what was being done;
 * - a lost connection fails every call in flight with OC_EAGENT, and the
 *   connection is then dead (agent_conn_is_alive() == FALSE).
 */
#ifndef OC_AGENT_H
#define OC_AGENT_H

#include <glib.h>

typedef struct _AgentConn AgentConn;

/* Connects to socket_path, sends HELLO and waits for HELLO_ACK (retrying the
 * HELLO every 500 ms, since a guest that is still booting does not answer),
 * up to timeout_ms in all.  OC_ETIMEOUT if nothing answered in time,
 * OC_EAGENT if what answered is not a compatible agent. */
AgentConn *agent_conn_open(const char *socket_path, GMainContext *ctx, guint timeout_ms,
                           GError **error);
/* The same, telling the agent the sandbox's id, which becomes the guest's
 * hostname if the guest came from another sandbox (a fork, a restore). */
AgentConn *agent_conn_open_as(const char *socket_path, const char *sandbox_id, GMainContext *ctx,
                              guint timeout_ms, GError **error);
/* A request that the agent answers by itself (a file operation, a session's
 * start, list or kill) fails with OC_ETIMEOUT when nothing has come on it for
 * this long: a stuck or hostile agent must not hang its caller.  The
 * operations that wait on a process (exec, attach) have their own
 * timeouts.  The default is AGENT_STALL_MS. */
#define AGENT_STALL_MS 60000
void agent_conn_set_stall_timeout(AgentConn *conn, guint ms);
/* Cancels every stream in flight and frees the connection. */
void agent_conn_close(AgentConn *conn);
gboolean agent_conn_is_alive(AgentConn *conn);
/* "oc-agent 0.1.0" as the guest reported it. */
const char *agent_conn_agent_version(AgentConn *conn);
/* Number of operations in flight (for idle disconnect). */
guint agent_conn_busy(AgentConn *conn);
/* Sends a PING and waits (up to 10 s) for its PONG: the smallest round trip
 * to the agent.  For benchmarks. */
gboolean agent_conn_ping(AgentConn *conn, GError **error);

typedef struct {
    const char *const *argv; /* NULL-terminated; if NULL, command is used */
    const char *command;     /* run by /bin/sh -c */
    const char *const *env;  /* NULL-terminated "K=V": the whole environment */
    const char *cwd;         /* NULL: agent default */
    const char *user;        /* USER[:GROUP], names or numbers; NULL: root */
    guint timeout_ms;        /* 0: none */
    const void *stdin_data;  /* NULL: /dev/null */
    gsize stdin_len;
    gsize max_output;        /* per stream; beyond it output is drained and dropped;
                              * 0: OC_EXEC_DEFAULT_MAX_OUTPUT */
    guint32 pty_cols;        /* sessions: both set, a pseudo-terminal of this size */
    guint32 pty_rows;
} AgentExecRequest;

typedef struct {
    GByteArray *out;         /* stdout, at most max_output bytes */
    GByteArray *err;         /* stderr, at most max_output bytes */
    gboolean out_truncated;
    gboolean err_truncated;
    int exit_code;
    int signal;
    gboolean timed_out;
    guint64 duration_us;
} AgentExecResult;

/* Runs a command to completion.  Besides the guest's own timeout, the host
 * gives up with OC_ETIMEOUT (and cancels the stream) 10 s after timeout_ms. */
gboolean agent_exec_run(AgentConn *conn, const AgentExecRequest *req, AgentExecResult *out,
                        GError **error);
void agent_exec_result_clear(AgentExecResult *res);

/* Bulk transfers.  A sink gets the file's bytes in order; returning FALSE
 * (with error set) cancels the read.  A source fills buf and returns the
 * byte count, 0 at the end, or -1 with error set (cancels the write).  Both
 * run on the calling thread, never on the event thread, so they may block
 * (flow control then holds the guest back). */
typedef gboolean (*AgentSink)(const void *data, gsize len, gpointer user_data, GError **error);
typedef gssize (*AgentSource)(void *buf, gsize cap, gpointer user_data, GError **error);

gboolean agent_file_read(AgentConn *conn, const char *path, AgentSink sink, gpointer user_data,
                         guint64 *size_out, GError **error);
/* Reads a whole file into *out.  OC_ELIMIT if it is larger than max. */
gboolean agent_file_read_all(AgentConn *conn, const char *path, gsize max, GByteArray **out,
                             GError **error);
gboolean agent_file_write(AgentConn *conn, const char *path, guint32 mode, AgentSource source,
                          gpointer user_data, guint64 *size_out, GError **error);

typedef struct {
    char *name;
    guint8 type;         /* enum oc_proto_ftype == oc_file_type */
    guint64 size;
    guint32 mode;
    gint64 mtime_ns;
    char *link_target;   /* NULL unless a symlink */
} AgentFileInfo;

void agent_file_info_free(AgentFileInfo *fi);
gboolean agent_file_stat(AgentConn *conn, const char *path, AgentFileInfo **out, GError **error);
/* *out: GPtrArray of AgentFileInfo*, with agent_file_info_free as free func. */
gboolean agent_file_list(AgentConn *conn, const char *path, GPtrArray **out, GError **error);
gboolean agent_file_mkdir(AgentConn *conn, const char *path, guint32 mode, gboolean parents,
                          GError **error);
gboolean agent_file_remove(AgentConn *conn, const char *path, gboolean recursive, GError **error);
gboolean agent_file_rename(AgentConn *conn, const char *from, const char *to, GError **error);

/* ---- background sessions (agent-sessions.c) ----
 * A session's process belongs to the agent, not to a connection: it keeps
 * running, its output kept in a bounded ring, until it exits or is killed. */

typedef struct {
    guint32 id;
    guint32 pid;          /* 0 if the program could not be run */
    gboolean running;
    int exit_code;        /* when not running; 128+signal if killed */
    int signal;           /* the signal that ended it, 0 if none */
    gint64 started_ms;    /* unix milliseconds */
    char **argv;          /* as given, or NULL */
    char *command;        /* as given (sh -c), or NULL */
} AgentSessionInfo;

void agent_session_info_free(AgentSessionInfo *si);
/* Starts req (stdin is a pipe for a later attach; req->stdin_data must be
 * NULL) as a session; *id and *pid receive its ids. */
gboolean agent_session_start(AgentConn *conn, const AgentExecRequest *req, guint32 *id,
                             guint32 *pid, GError **error);
/* *out: GPtrArray of AgentSessionInfo*, with its free func. */
gboolean agent_session_list(AgentConn *conn, GPtrArray **out, GError **error);
/* Signals the session's process group (sig 0: SIGKILL).  OC_ENOTFOUND if
 * there is no such session. */
gboolean agent_session_kill(AgentConn *conn, guint32 id, int sig, GError **error);

/* ---- following a session (agent-attach.c) ----
 * An attach delivers, in order, what the guest sends for one session: its
 * scrollback, a replay-end marker, live output, then the end.  One consumer
 * thread pulls the events; any thread may write stdin, signal, resize or
 * detach meanwhile.  What the event thread holds for a consumer is bounded
 * by the protocol's credit: credit for output goes back only when the
 * consumer frees its event, so a consumer that stops pulling stops the
 * guest from sending to it (the guest's ring then drops the oldest output
 * for that attacher alone; the process is never held up). */

typedef enum {
    AGENT_EVENT_OUTPUT,     /* data on chan: OC_CHAN_OUT or OC_CHAN_ERR */
    AGENT_EVENT_REPLAY_END, /* the scrollback has been delivered */
    AGENT_EVENT_END,        /* the attach is over: agent_attach_outcome() */
} AgentEventKind;

typedef struct {
    AgentEventKind kind;
    guint8 chan;
    guint64 skipped; /* output: bytes of chan this attacher skipped just before
                      * (it fell behind the guest's ring) */
    gsize len;
    guint8 data[];
} AgentEvent;

typedef enum {
    AGENT_ATTACH_EXITED,   /* the process exited; the result says how */
    AGENT_ATTACH_DETACHED, /* agent_attach_detach(): the process goes on */
    AGENT_ATTACH_FAILED,   /* the connection was lost, or the agent failed */
} AgentAttachOutcome;

typedef struct _AgentAttach AgentAttach;

/* Attaches to session id and waits (up to timeout_ms) until the agent has
 * accepted: OC_ENOTFOUND for an unknown session. */
AgentAttach *agent_attach_open(AgentConn *conn, guint32 id, guint timeout_ms, GError **error);
/* The next event, or NULL if none came before deadline (a
 * g_get_monotonic_time() bound).  After AGENT_EVENT_END, END again. */
AgentEvent *agent_attach_next(AgentAttach *a, gint64 deadline);
/* Frees an event; for output, returns its credit to the guest. */
void agent_attach_event_free(AgentAttach *a, AgentEvent *ev);
/* Writes to the session's stdin, waiting for the guest's credit (up to
 * deadline, 0: none).  OC_ESTATE if the attach has ended. */
gboolean agent_attach_write(AgentAttach *a, const void *data, gsize len, gint64 deadline,
                            GError **error);
/* Closes the session's stdin (for every attacher).  For a PTY session the
 * agent sends the terminal's end-of-file character instead. */
gboolean agent_attach_close_stdin(AgentAttach *a, GError **error);
gboolean agent_attach_signal(AgentAttach *a, int sig, GError **error);
/* Whether the session has a terminal (as the agent said when it accepted
 * the attach). */
gboolean agent_attach_is_pty(AgentAttach *a);
/* Sets a PTY session's terminal size. */
gboolean agent_attach_resize(AgentAttach *a, guint32 cols, guint32 rows, GError **error);
/* Asks the agent to end the attach; the process goes on.  The END event
 * follows. */
void agent_attach_detach(AgentAttach *a);
/* After AGENT_EVENT_END: how it ended, with *res (exit code, signal, ...;
 * output fields unset) for EXITED and *error for FAILED. */
AgentAttachOutcome agent_attach_outcome(AgentAttach *a, AgentExecResult *res, GError **error);
/* Detaches if not ended, and frees. */
void agent_attach_free(AgentAttach *a);

/* ---- a connection to a guest port (PORT_CONNECT) ----
 * The agent connects to port on the guest's loopback (127.0.0.1, then ::1)
 * and the stream is an attach without a process: REPLAY_END once connected,
 * output events (chan 1) with what the guest's server sends,
 * agent_attach_write() to send to it, agent_attach_close_stdin() to
 * half-close, END when the server has closed its side, agent_attach_free()
 * to close.  OC_ENOTFOUND when nothing listens on the port. */
AgentAttach *agent_forward_open(AgentConn *conn, guint16 port, guint timeout_ms, GError **error);

#endif
