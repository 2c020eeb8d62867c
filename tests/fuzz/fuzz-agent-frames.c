/* fuzz-agent-frames.c: the agent's frame layer (guest/agent/conn.c) against
 * a host that sends anything: resynchronisation, headers, HELLO, OPEN's
 * field list, the stream table, DATA/EOF/WINDOW/CANCEL/SIGNAL/RESIZE on open
 * and unknown streams, and the output queue.  The operations themselves are
 * stubs here (below), so that no input can run a command or touch a file on
 * the fuzzing host: exec and attach streams stay open and take input, the
 * others fail at once, as a refused operation would. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "oc-agent.h"

/* ---- stubs of the agent's other parts (util.c and pty.c are its own) ---- */

void agent_log(const char *fmt, ...)
{
    (void)fmt; /* quiet: libFuzzer's output is what matters */
}

static void refuse(agent_stream *s)
{
    stream_error(s, OC_PERR_UNSUPPORTED, "stubbed in the fuzz target");
    stream_free(s, 0);
}

void exec_open(agent_stream *s, const uint8_t *p, size_t len) { (void)s; (void)p; (void)len; }
void exec_input(agent_stream *s, const uint8_t *p, size_t len) { (void)p; stream_consumed(s, len); }
void exec_input_eof(agent_stream *s) { (void)s; }
void exec_cancel(agent_stream *s) { stream_free(s, 1); }
void exec_signal(agent_stream *s, int sig) { (void)s; (void)sig; }
void exec_release(agent_stream *s, int kill_group) { (void)s; (void)kill_group; }
void forward_open(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void session_start(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void session_attach(agent_stream *s, const uint8_t *p, size_t len) { (void)s; (void)p; (void)len; }
void session_list(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void session_kill(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void session_input(agent_stream *s, const uint8_t *p, size_t len) { (void)p; stream_consumed(s, len); }
void session_input_eof(agent_stream *s) { (void)s; }
void session_detach(agent_stream *s) { stream_free(s, 0); }
void session_signal(agent_stream *s, int sig) { (void)s; (void)sig; }
int session_resize(agent_stream *s, uint32_t cols, uint32_t rows)
{
    (void)s;
    return cols && rows ? 0 : -1;
}
void session_release(agent_stream *s) { (void)s; }
void file_read_open(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void file_write_open(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void file_list_open(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void file_write_data(agent_stream *s, const uint8_t *p, size_t len) { (void)p; stream_consumed(s, len); }
void file_write_eof(agent_stream *s) { (void)s; }
void file_cancel(agent_stream *s) { stream_free(s, 0); }
void file_release(agent_stream *s) { (void)s; }
void fileop_stat(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void fileop_mkdir(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void fileop_remove(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
void fileop_rename(agent_stream *s, const uint8_t *p, size_t len) { (void)p; (void)len; refuse(s); }
/* No test mode here: nothing can arm a misbehaviour. */
void misbehave_stream_freed(const agent_stream *s) { (void)s; }
int misbehave_frame(agent_conn *c, const oc_proto_header *h, const uint8_t *p)
{
    (void)c; (void)h; (void)p;
    return 0;
}

/* ---- the target ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    conn_init();
    return 0;
}

static void drain(int fd)
{
    char sink[65536];
    while (read(fd, sink, sizeof sink) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agent_conn *c = &agent.conns[0];
    int sv[2];
    size_t off = 0;
    int stuck = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    conn_open(c, sv[0]);
    /* The host's bytes in pieces, the agent reading and answering between,
     * as over the channel; its answers are read and dropped. */
    while (off < size && stuck < 3) {
        ssize_t n = write(sv[1], data + off, size - off < 4096 ? size - off : 4096);
        /* A full input buffer holding no whole frame takes nothing more. */
        stuck = n > 0 ? 0 : stuck + 1;
        if (n > 0)
            off += (size_t)n;
        if (conn_wants_read(c) && conn_read(c) < 0)
            break;
        if (conn_wants_write(c))
            conn_flush(c);
        drain(sv[1]);
        if (n <= 0 && !conn_wants_read(c))
            conn_process_held_input(c);
    }
    close(sv[1]);
    while (conn_wants_read(c) && conn_read(c) == 0)
        ;
    conn_reset(c);
    close(sv[0]);
    c->fd = -1;
    return 0;
}
