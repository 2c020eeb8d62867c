/* oc-agent.h: state shared by the parts of the guest agent.
 *
 * The agent is single-threaded: one poll loop (loop.c) owns every fd.  Its
 * state lives in one global, `agent`, because there is exactly one of it per
 * process and passing it around would only add noise.  Each host connection
 * (one per virtio-serial port, or per accepted client in test mode) is an
 * agent_conn with its own framing, version and streams; a stream knows its
 * connection.  Sessions (sessions.c) belong to no connection.
 */
#ifndef OC_AGENT_GUEST_H
#define OC_AGENT_GUEST_H

#include <dirent.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "oc-proto.h"
#include "requests.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_NAME    "oc-agent " AGENT_VERSION
#define AGENT_PORT_NAME "oc.agent"
/* Ports "oc.agent", "oc.agent.1" .. "oc.agent.3", each its own connection, so
 * that several host processes can talk to the agent at once (QEMU serves one
 * client per port).  In test mode: clients served at once. */
#define AGENT_MAX_CONNS 4
/* How long after "oc.agent" appeared the other ports are looked for (a
 * domain defined before there were several has only the first). */
#define AGENT_PORT_SCAN_MS 10000
#define AGENT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#define AGENT_MAX_STREAMS 256     /* per connection */
#define AGENT_FRAME_MAX (OC_PROTO_HEADER_SIZE + OC_PROTO_MAX_PAYLOAD)
/* Reads from the port are this large because virtio-serial throughput
 * depends on the reader's read size (12 MiB/s for small reads, 170+ MiB/s
 * for 1 MiB reads); the extra frame lets a partial frame stay at the front. */
#define AGENT_READ_SIZE (1024u * 1024u)
#define AGENT_IN_CAP (AGENT_READ_SIZE + AGENT_FRAME_MAX)
/* Output queue: sources (pipes, files) are read only while one more full
 * frame plus slack for control frames fits, which is the backpressure from a
 * slow or absent host down to the children. */
#define AGENT_OUT_CAP (2u * 1024u * 1024u)
#define AGENT_OUT_SLACK (64u * 1024u)
/* Credit for host data is returned in steps of this size, so the host keeps
 * its pipe full without a WINDOW per frame. */
#define AGENT_CREDIT_STEP (OC_PROTO_INITIAL_WINDOW / 4u)
/* After a process exits, a background child may still hold its pipes; this
 * long after the exit the agent stops waiting for them. */
#define AGENT_DRAIN_MS 1000
/* The capacity the agent gives its pipes (F_SETPIPE_SZ): what a process can
 * leave unread in one when it exits. */
#define PIPE_SIZE (1024 * 1024)
/* The TERM a PTY session's programs get when the host's ENV names none. */
#define PTY_DEFAULT_TERM "xterm-256color"

enum agent_mode { MODE_LISTEN, MODE_PORT };

typedef struct agent_conn agent_conn;

typedef struct agent_stream {
    agent_conn *conn;       /* the connection the stream is on */
    uint32_t id;            /* unique within its connection only */
    uint32_t op;            /* enum oc_proto_op */
    uint64_t credit[3];     /* bytes we may still send on chans 1 and 2 */
    uint64_t in_held;       /* host DATA bytes received, credit not yet returned */
    uint64_t in_done;       /* of in_held, bytes consumed (returnable) */
    int in_eof;             /* host sent EOF on chan 0 */
    int pidx[3];            /* poll slots of this round, -1 if none */

    /* EXEC */
    pid_t pid;
    int out_fd[3];          /* [1] stdout, [2] stderr read ends; -1 at EOF */
    int has_stdin;          /* STDIN=1: chan 0 carries stdin */
    int in_fd;              /* stdin write end, -1 if none or closed */
    uint8_t *in_buf;        /* stdin bytes waiting for the pipe */
    size_t in_len, in_off, in_cap;
    int exited, status, timed_out;
    int64_t t_start_us, t_exit_us;
    int64_t kill_at_ms;     /* timeout deadline, 0 = none */
    int64_t drain_at_ms;    /* after exit: stop waiting for the pipes */

    /* PORT_CONNECT while its connect is in progress (in_fd is the socket) */
    int connecting;         /* the address family being tried; 0: none */
    uint16_t port;
    int64_t connect_until_ms;

    /* files */
    int fd;
    uint64_t size;
    char *path;             /* FILE_WRITE target */
    char *tmp_path;         /* FILE_WRITE temp file, NULL once renamed */
    uint32_t mode;
    DIR *dir;               /* FILE_LIST */
    uint8_t *rec;           /* FILE_LIST, SESSION_LIST records not yet sent */
    size_t rec_len, rec_off;

    /* SESSION_ATTACH: the session by id (it may be gone), and per output
     * channel the absolute offset of the next byte to send and where the
     * scrollback ended when the attach began. */
    uint32_t session;
    struct agent_stream *next_attach; /* the session's other attach streams */
    int64_t credit_ms[3];   /* when the host last granted credit (or attached) */
    uint64_t cursor[3];
    uint64_t replay_end[3];
    int replayed;           /* INFO REPLAY_END sent */
} agent_stream;

/* A byte ring with absolute offsets: `total` bytes were ever written, the
 * last `len` of them are held.  The buffer grows on demand up to `max`;
 * past that the oldest bytes are dropped. */
typedef struct {
    uint8_t *buf;
    size_t cap, max;
    size_t head;            /* index of the oldest byte held */
    size_t len;
    uint64_t total;
} agent_ring;

struct agent_conn {
    int index;              /* the port's number, or the test-mode slot */
    int fd;                 /* socket or port, -1 if none */
    int hup;                /* port: host not connected; rechecked by the loop */

    uint8_t *in;
    size_t in_len;
    int resync;             /* discarding until a HELLO header prefix */

    uint8_t *out;
    size_t out_off, out_len, out_cap;

    agent_stream *streams[AGENT_MAX_STREAMS];
    uint32_t version;       /* protocol version agreed with this host */

    /* misbehave.c (a test mode): the hostile mode armed on this connection
     * (0: none), whether its attack has begun, the stream attacked and the
     * trigger's own (ended) stream. */
    int mb_mode;
    int mb_attacking;
    uint32_t mb_stream;
    uint32_t mb_old_stream;
    uint64_t mb_sent;
};

typedef struct {
    enum agent_mode mode;
    int pid1;
    int listen_fd;
    int sig_fd;
    /* Port mode: when to look again at the ports without a host, and for
     * ports not found yet (they may show up after "oc.agent"). */
    int64_t hup_until_ms;
    int64_t port_scan_until_ms;

    agent_conn conns[AGENT_MAX_CONNS];
    char **default_env;
    char boot_id[64];
    char host_name[65]; /* the last hostname a host sent in HELLO */
} agent_state;

extern agent_state agent;

/* util.c */
int64_t agent_now_ms(void);
int64_t agent_now_us(void);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint32_t agent_errno_code(int err);
int agent_set_nonblock(int fd);
void agent_build_default_env(void);

/* conn.c: framing, output queue, stream table, dispatch */
void conn_init(void);
/* Starts serving fd on c (allocating its buffers the first time). */
void conn_open(agent_conn *c, int fd);
void conn_reset(agent_conn *c);
int conn_up(const agent_conn *c);       /* a host is there to talk to */
int conn_read(agent_conn *c);           /* -1: hang-up */
int conn_flush(agent_conn *c);          /* -1: hang-up */
int conn_wants_read(const agent_conn *c);
int conn_wants_write(const agent_conn *c);
void conn_process_held_input(agent_conn *c);
void send_frame(agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream, const void *p,
                uint32_t len);
/* For misbehave.c: a frame, or raw bytes, queued even on a misbehaving
 * connection (send_frame() drops everything there); the queue's room. */
void conn_send_frame_raw(agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream,
                         const void *p, uint32_t len);
void conn_send_raw(agent_conn *c, const void *p, size_t len);
size_t conn_out_room(const agent_conn *c);
void send_error(agent_conn *c, uint32_t stream, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same on s's connection and stream. */
void stream_send(agent_stream *s, uint8_t type, uint8_t chan, const void *p, uint32_t len);
void stream_error(agent_stream *s, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The ERROR a request parser (requests.h) wrote down. */
static inline void stream_fail(agent_stream *s, const agent_fail *f)
{
    stream_error(s, f->code, "%s", f->msg);
}
/* How many DATA bytes may be sent now on (s, chan): credit, room, frame. */
size_t stream_sendable(const agent_stream *s, int chan);
/* Reads up to max bytes from fd straight into a DATA frame. Returns read()'s
 * result (0 = EOF, -1 with errno). */
ssize_t send_data_from_fd(agent_stream *s, int chan, int fd, size_t max);
void send_data(agent_stream *s, int chan, const void *p, size_t len);
void stream_consumed(agent_stream *s, size_t n);
/* Ends a stream without a frame; kill_group: SIGKILL an exec's group. */
void stream_free(agent_stream *s, int kill_group);
void conn_cancel_streams(agent_conn *c);
void streams_cancel_all(void);          /* of every connection */

/* exec.c */
/* A spawned process, as exec_spawn leaves it. */
typedef struct {
    pid_t pid;
    int out_fd[3];          /* [1] stdout, [2] stderr read ends */
    int in_fd;              /* stdin write end, -1 without STDIN */
    int has_stdin;
    uint32_t cols, rows;    /* a PTY session's terminal size; 0: pipes */
    uint32_t timeout_ms;
    int64_t t_start_us;
} exec_child;
/* Parses an EXEC-shaped OPEN (EXEC, SESSION_START) and spawns it; with
 * force_stdin stdin is always a pipe.  A SESSION_START with COLS and ROWS
 * gets a terminal instead of pipes: out_fd[1] is its master, in_fd a second
 * descriptor of it, out_fd[2] -1.  Returns 0 with *c filled; -1 after
 * an ERROR (the stream is freed); or the shell's exit code (127, 126) for a
 * program that cannot be run, with the shell-like message in msg. */
int exec_spawn(agent_stream *s, const uint8_t *p, size_t len, int force_stdin, exec_child *c,
               char *msg, size_t msg_cap);
/* EXIT_CODE and EXIT_SIGNAL of a wait status. */
void exec_put_exit(oc_proto_writer *w, int status);
/* RESULT with EXIT_CODE, EXIT_SIGNAL, TIMED_OUT, DURATION_US. */
void exec_send_result(agent_stream *s, int status, int timed_out, int64_t duration_us);
/* Host input held for a pipe: append (1; 0 when fd is closed and the bytes
 * are dropped; -1 after failing the stream for want of memory), write what
 * the pipe takes (-1: the reader is gone), drop the rest (returning credit). */
int input_append(agent_stream *s, int fd, const uint8_t *p, size_t len);
int input_flush(agent_stream *s, int fd);
void input_drop(agent_stream *s);
void exec_open(agent_stream *s, const uint8_t *p, size_t len);
void exec_input(agent_stream *s, const uint8_t *p, size_t len);
void exec_input_eof(agent_stream *s);
void exec_cancel(agent_stream *s);
void exec_signal(agent_stream *s, int sig);
void exec_exited(agent_stream *s, int status);
void exec_poll_events(agent_stream *s, const struct pollfd *pfd);
void exec_poll_setup(agent_stream *s, struct pollfd *pfd, int *n);
int64_t exec_timers(agent_stream *s, int64_t now);  /* next deadline or 0 */
void exec_release(agent_stream *s, int kill_group);

/* forward.c: PORT_CONNECT, a connection to a port on the guest's loopback.
 * Its socket is pumped by the exec code, as a process's stdin and stdout
 * are (the stream is "exited" from the start: there is no process), once
 * its connect completed; until then these hooks of the exec code's poll,
 * timer and cancel handle it, and return 1 when they did. */
void forward_open(agent_stream *s, const uint8_t *p, size_t len);
int forward_poll_setup(agent_stream *s, struct pollfd *pfd, int *n);
int forward_poll_events(agent_stream *s, const struct pollfd *pfd);
int forward_timers(agent_stream *s, int64_t now, int64_t *next);
int forward_cancel(agent_stream *s);

/* Streams whose bytes the exec code pumps between fds and the host. */
static inline int stream_pumps_fds(const agent_stream *s)
{
    return s->op == OC_OP_EXEC || s->op == OC_OP_PORT_CONNECT;
}

/* ring.c */
void ring_init(agent_ring *r, size_t max);
void ring_free(agent_ring *r);
/* Appends n bytes, dropping the oldest past r->max (or past what it could
 * allocate: memory is never the reason to stop draining a pipe). */
void ring_write(agent_ring *r, const uint8_t *p, size_t n);
/* Offset of the oldest byte held. */
uint64_t ring_start(const agent_ring *r);
/* The contiguous bytes held from absolute offset `off` (>= ring_start),
 * at most max; returns their count and sets *p. */
size_t ring_peek(const agent_ring *r, uint64_t off, size_t max, const uint8_t **p);

/* pty.c: the terminal of a PTY session (its size fields: requests.c) */
/* Opens a terminal of this size and adds to fa what makes it the child's
 * stdio and controlling terminal.  Returns the master (nonblocking,
 * close-on-exec), or -1 with errno. */
int pty_open(uint32_t cols, uint32_t rows, posix_spawn_file_actions_t *fa);
int pty_resize(int master, uint32_t cols, uint32_t rows);   /* -1 with errno */
/* The terminal's EOF character (VEOF, ^D by default); 0 if disabled. */
uint8_t pty_eof_char(int master);

/* sessions.c: SESSION_START, SESSION_ATTACH, SESSION_LIST, SESSION_KILL */
void session_start(agent_stream *s, const uint8_t *p, size_t len);
void session_attach(agent_stream *s, const uint8_t *p, size_t len);
void session_list(agent_stream *s, const uint8_t *p, size_t len);
void session_kill(agent_stream *s, const uint8_t *p, size_t len);
void session_pump(agent_stream *s);
void session_input(agent_stream *s, const uint8_t *p, size_t len);
void session_input_eof(agent_stream *s);
void session_detach(agent_stream *s);       /* CANCEL: RESULT, the process lives on */
void session_signal(agent_stream *s, int sig);
/* RESIZE: -1 if s is not attached to a PTY session (the caller answers);
 * after the exit it is ignored. */
int session_resize(agent_stream *s, uint32_t cols, uint32_t rows);
void session_release(agent_stream *s);      /* stream_free of an attach stream */
int session_exited(pid_t pid, int status);  /* 1 if pid was a session's */
void sessions_poll_setup(struct pollfd *pfd, int *n);
void sessions_poll_events(const struct pollfd *pfd);
void attach_poll_setup(agent_stream *s, struct pollfd *pfd, int *n);
void attach_poll_events(agent_stream *s, const struct pollfd *pfd);
int64_t sessions_timers(int64_t now);       /* next deadline or 0 */
void sessions_kill_all(void);               /* test mode exit */

/* files.c: FILE_READ, FILE_WRITE, FILE_LIST (streaming) */
void file_read_open(agent_stream *s, const uint8_t *p, size_t len);
void file_write_open(agent_stream *s, const uint8_t *p, size_t len);
void file_list_open(agent_stream *s, const uint8_t *p, size_t len);
void file_write_data(agent_stream *s, const uint8_t *p, size_t len);
void file_write_eof(agent_stream *s);
int file_pump(agent_stream *s);     /* 1 if it could use another round */
void file_cancel(agent_stream *s);
void file_release(agent_stream *s);

/* fileops.c: one-shot operations and shared helpers */
void fileop_stat(agent_stream *s, const uint8_t *p, size_t len);
void fileop_mkdir(agent_stream *s, const uint8_t *p, size_t len);
void fileop_remove(agent_stream *s, const uint8_t *p, size_t len);
/* A recursive FILE_REMOVE runs in a child (pid in s->pid): its exit
 * status answers the stream. */
void fileop_remove_exited(agent_stream *s, int status);
void fileop_rename(agent_stream *s, const uint8_t *p, size_t len);
/* file_args_parse() (requests.c) for stream s: on a bad or unknown field it
 * sends ERROR, frees the stream and returns -1. */
int file_args_read(agent_stream *s, const uint8_t *p, size_t len, unsigned allowed,
                   file_args *a);
/* Fails the stream with an ERROR built from errno, naming the path. */
void fail_errno(agent_stream *s, int err, const char *what, const char *path);
/* Appends the entry fields of (dirfd, name) to w; -1 with errno. */
int file_entry_fields(oc_proto_writer *w, int dirfd, const char *name, const char *shown);

/* misbehave.c: a test mode in which a connection turns hostile */
enum misbehave_mode { MB_NONE, MB_GARBAGE, MB_HUGE, MB_UNKNOWN, MB_FLOOD, MB_SILENT, MB_HALF };
/* oc-agent --misbehave MODE: signals the parent agent; main()'s exit code. */
int misbehave_trigger(const char *name);
/* The agent got SIGUSR1 from sender with mode as its value. */
void misbehave_signal(pid_t sender, int mode);
void misbehave_stream_freed(const agent_stream *s);
/* A frame from the host on a connection with a mode armed: 1 if it was
 * swallowed (the attack, or anything after it), 0 to dispatch it. */
int misbehave_frame(agent_conn *c, const oc_proto_header *h, const uint8_t *p);
/* Keeps a flooding connection's output queue full. */
void misbehave_pump(agent_conn *c);

/* loop.c */
void loop_run(void) __attribute__((noreturn));

/* port.c */
/* Blocks (retrying) until port 0 ("oc.agent") exists, then serves it and
 * whichever of the others exist. */
void port_open_all(void);
/* Serves the ports that have appeared since; 1 if some are still missing. */
int port_scan(void);
int listen_socket(const char *path);

/* init.c, pid1.c */
void init_stage1(void) __attribute__((noreturn));
void pid1_setup(void);
void pid1_shutdown(void) __attribute__((noreturn));

/* net.c: brings up the NIC, if the sandbox has one */
void net_setup(void);

/* ---- user.c: running a process as another user ---- */

#define AGENT_USER_MAX_GROUPS 64
#define AGENT_USER_NAME_MAX 64

typedef struct {
    uid_t uid;
    gid_t gid;
    gid_t groups[AGENT_USER_MAX_GROUPS]; /* supplementary, besides gid */
    int ngroups;
    char name[AGENT_USER_NAME_MAX + 1];
    char home[256];
} agent_user;

/* Looks USER[:GROUP] (names or numbers) up in the guest's /etc/passwd and
 * /etc/group.  0, or -1 with a message for the host. */
int user_resolve(const char *spec, agent_user *u, char *msg, size_t cap);
/* envp with HOME, USER and LOGNAME set for u; those three strings are in
 * one block, *strings.  free() both. */
char **user_env(char *const *envp, const agent_user *u, char **strings);
/* The argv that runs prog (argv) as u through this binary's --as mode;
 * ids is the space for the numbers.  free() the array. */
char **user_spawn_argv(const agent_user *u, const char *prog, char *const *argv, char *ids,
                       size_t ids_cap);
/* oc-agent --as UID GID GROUPS PROG ARGV0 [ARGS...]: drops to the ids and
 * execs PROG; returns (126, 127) only on failure. */
int user_as_main(int argc, char **argv);

#endif /* OC_AGENT_GUEST_H */
