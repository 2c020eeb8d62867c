/* misbehave.c: a test mode in which the agent turns hostile toward its host.
 *
 * Why it exists: the host must treat every byte from a guest as hostile,
 * since guest root owns the agent.  The integration tests prove that with a
 * real guest behind a real sandbox, so the agent can be told to misbehave
 * as a hostile guest would.  It gives guest root nothing it lacked: root
 * can replace, ptrace or reprogram PID 1 anyway, and only root (or the user
 * running a test-mode agent) may signal the agent.
 *
 * How: `oc-agent --misbehave MODE`, run as the program of an EXEC (its
 * parent must be the agent), sends the agent SIGUSR1 with the mode as the
 * signal's value and exits.  Once that EXEC's stream has ended (its RESULT
 * is queued, so the trigger itself gets an honest answer), its connection
 * turns hostile; run from elsewhere (a session), every connection does at
 * once.  The host's next request (OPEN) is then attacked as MODE says, and
 * from then on the connection answers nothing and swallows what the host
 * sends.  When the host hangs up, the mode is over: the next host on that
 * port gets a well-behaved agent.
 */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const mode_names[] = {
    [MB_GARBAGE] = "garbage", /* bytes that are no frame at all */
    [MB_HUGE] = "huge",       /* a frame header announcing 4 GiB */
    [MB_UNKNOWN] = "unknown", /* valid frames for streams that are not open, without end */
    [MB_FLOOD] = "flood",     /* DATA without end, whatever the credit */
    [MB_SILENT] = "silent",   /* nothing at all, from the trigger on */
    [MB_HALF] = "half",       /* the first half of a RESULT, then nothing */
};
#define MODE_COUNT ((int)(sizeof mode_names / sizeof mode_names[0]))

/* A trigger that ran as an EXEC: its pid, and the mode to arm when its
 * stream ends. */
static pid_t pending_pid;
static int pending_mode;

static const char *mode_name(int mode)
{
    return mode > 0 && mode < MODE_COUNT ? mode_names[mode] : "?";
}

/* ---- the trigger: oc-agent --misbehave MODE ---- */

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int misbehave_trigger(const char *name)
{
    int mode = 0;
    for (int i = 1; i < MODE_COUNT; i++)
        if (!strcmp(name, mode_names[i]))
            mode = i;
    if (!mode) {
        fprintf(stderr, "oc-agent: unknown misbehaviour '%s'; one of:", name);
        for (int i = 1; i < MODE_COUNT; i++)
            fprintf(stderr, " %s", mode_names[i]);
        fprintf(stderr, "\n");
        return 2;
    }
    pid_t parent = getppid();
    char exe[64];
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)parent);
    if (!same_file("/proc/self/exe", exe)) {
        fprintf(stderr, "oc-agent: my parent (pid %d) is not the agent; run me as the program "
                "of an exec, without a shell in between\n", (int)parent);
        return 1;
    }
    union sigval v = { .sival_int = mode };
    if (sigqueue(parent, SIGUSR1, v) < 0) {
        fprintf(stderr, "oc-agent: cannot signal the agent (pid %d): %s\n", (int)parent,
                strerror(errno));
        return 1;
    }
    printf("agent %d misbehaves (%s) from the host's next request\n", (int)parent, name);
    return 0;
}

/* ---- the agent's side ---- */

static void arm(agent_conn *c, int mode, uint32_t old_stream)
{
    c->mb_mode = mode;
    c->mb_old_stream = old_stream;
    /* Silence starts at once: whatever the host sends next goes unanswered. */
    c->mb_attacking = mode == MB_SILENT;
    agent_log("port %d misbehaves (%s), as a test asked", c->index, mode_name(mode));
}

void misbehave_signal(pid_t sender, int mode)
{
    if (mode <= 0 || mode >= MODE_COUNT) {
        agent_log("SIGUSR1 from pid %d without a misbehaviour; ignored", (int)sender);
        return;
    }
    for (int k = 0; k < AGENT_MAX_CONNS; k++) {
        for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
            agent_stream *s = agent.conns[k].streams[i];
            if (s && s->op == OC_OP_EXEC && s->pid == sender) {
                pending_pid = sender;
                pending_mode = mode;
                return;
            }
        }
    }
    for (int k = 0; k < AGENT_MAX_CONNS; k++)
        if (conn_up(&agent.conns[k]))
            arm(&agent.conns[k], mode, 0);
}

void misbehave_stream_freed(const agent_stream *s)
{
    if (pending_pid && s->op == OC_OP_EXEC && s->pid == pending_pid) {
        arm(s->conn, pending_mode, s->id);
        pending_pid = 0;
    }
}

/* Operations whose answer carries DATA: what a flood can ride on. */
static int has_output(const uint8_t *p, size_t len)
{
    oc_proto_reader r;
    oc_proto_field f;
    uint32_t op = 0;
    oc_proto_reader_init(&r, p, len);
    while (oc_proto_next(&r, &f) == 1)
        if (f.tag == OC_F_OP)
            oc_proto_field_u32(&f, &op);
    return op == OC_OP_EXEC || op == OC_OP_FILE_READ || op == OC_OP_FILE_LIST ||
           op == OC_OP_SESSION_LIST || op == OC_OP_SESSION_ATTACH;
}

/* Filler that is no frame: a xorshift sequence, never starting with the
 * magic's first byte. */
static void fill_noise(uint8_t *p, size_t n)
{
    static uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    if (n && p[0] == 0x4f)
        p[0] = 0;
}

static uint8_t chunk[OC_PROTO_MAX_PAYLOAD];

static void attack(agent_conn *c, uint32_t stream)
{
    uint8_t hdr[OC_PROTO_HEADER_SIZE];
    switch (c->mb_mode) {
    case MB_GARBAGE:
        fill_noise(chunk, 64 * 1024);
        conn_send_raw(c, chunk, 64 * 1024);
        break;
    case MB_HUGE: {
        oc_proto_header h = { .type = OC_T_DATA, .chan = OC_CHAN_OUT, .stream = stream,
                              .length = 0xffffffffu };
        oc_proto_header_encode(hdr, &h);
        conn_send_raw(c, hdr, sizeof hdr);
        /* as if the payload followed */
        fill_noise(chunk, 64 * 1024);
        conn_send_raw(c, chunk, 64 * 1024);
        break;
    }
    case MB_HALF: {
        uint8_t buf[OC_PROTO_HEADER_SIZE + 128];
        oc_proto_writer w;
        oc_proto_writer_init(&w, chunk, 128);
        exec_put_exit(&w, 0);
        oc_proto_put_u64(&w, OC_F_DURATION_US, 1000);
        size_t n = oc_proto_frame(buf, OC_T_RESULT, 0, stream, chunk, (uint32_t)w.len);
        conn_send_raw(c, buf, OC_PROTO_HEADER_SIZE + (n - OC_PROTO_HEADER_SIZE) / 2);
        break;
    }
    default:
        break; /* UNKNOWN and FLOOD go on in misbehave_pump() */
    }
}

int misbehave_frame(agent_conn *c, const oc_proto_header *h, const uint8_t *p)
{
    if (c->mb_attacking)
        return 1;
    if (h->type != OC_T_OPEN || (c->mb_mode == MB_FLOOD && !has_output(p, h->length)))
        return 0;
    c->mb_attacking = 1;
    c->mb_stream = h->stream;
    attack(c, h->stream);
    return 1;
}

/* One frame of the UNKNOWN mode: each type the host may receive, in turn,
 * on the trigger's stream, which the host has closed (or on stream 1). */
static void send_unknown(agent_conn *c)
{
    uint32_t stream = c->mb_old_stream ? c->mb_old_stream : 1;
    uint8_t buf[128];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    switch (c->mb_sent++ % 6) {
    case 0:
        fill_noise(chunk, 64 * 1024);
        conn_send_frame_raw(c, OC_T_DATA, OC_CHAN_OUT, stream, chunk, 64 * 1024);
        return;
    case 1:
        conn_send_frame_raw(c, OC_T_EOF, OC_CHAN_ERR, stream, NULL, 0);
        return;
    case 2:
        oc_proto_put_u64(&w, OC_F_SIZE, 1ull << 40);
        conn_send_frame_raw(c, OC_T_INFO, 0, stream, buf, (uint32_t)w.len);
        return;
    case 3: {
        static const uint8_t credit[4] = { 0, 0, 1, 0 };
        conn_send_frame_raw(c, OC_T_WINDOW, OC_CHAN_IN, stream, credit, sizeof credit);
        return;
    }
    case 4:
        exec_put_exit(&w, 0);
        conn_send_frame_raw(c, OC_T_RESULT, 0, stream, buf, (uint32_t)w.len);
        return;
    default:
        oc_proto_put_u32(&w, OC_F_ERRCODE, OC_PERR_IO);
        oc_proto_put_str(&w, OC_F_MESSAGE, "no such stream");
        conn_send_frame_raw(c, OC_T_ERROR, 0, stream, buf, (uint32_t)w.len);
        return;
    }
}

void misbehave_pump(agent_conn *c)
{
    if (!c->mb_attacking || (c->mb_mode != MB_UNKNOWN && c->mb_mode != MB_FLOOD))
        return;
    /* Keep room for reading: the host's writes must not block on us. */
    while (conn_up(c) && conn_out_room(c) >= 2 * AGENT_FRAME_MAX + AGENT_OUT_SLACK) {
        if (c->mb_mode == MB_UNKNOWN) {
            send_unknown(c);
        } else {
            memset(chunk, 'y', sizeof chunk);
            conn_send_frame_raw(c, OC_T_DATA, OC_CHAN_OUT, c->mb_stream, chunk, sizeof chunk);
        }
    }
}
