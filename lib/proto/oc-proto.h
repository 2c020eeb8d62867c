/* oc-proto.h: the agent wire protocol, shared by the host library and the
 * guest agent.  Plain C99 and libc only, because the agent is a static musl
 * binary.  docs/protocol.md is the prose version of this file.
 *
 * A connection is a byte stream (the virtio-serial port "oc.agent") carrying
 * frames.  Every frame starts with a fixed 12-byte little-endian header:
 *
 *     u16 magic   OC_PROTO_MAGIC
 *     u8  type    enum oc_proto_type
 *     u8  chan    channel inside the stream (stdin/stdout/stderr, ...)
 *     u32 stream  stream id; 0 is the connection itself
 *     u32 length  payload bytes that follow, <= OC_PROTO_MAX_PAYLOAD
 *
 * Control payloads (OPEN, RESULT, ERROR, HELLO, ...) are a sequence of
 * fields: u16 tag, u32 length, bytes.  Integers inside fields are
 * little-endian and sized by the field length (1, 4 or 8 bytes).  A tag may
 * repeat (argv, env).  Bulk bytes travel in DATA frames as they are: no
 * base64, no JSON.
 */
#ifndef OC_PROTO_H
#define OC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define OC_PROTO_MAGIC        0x434fu /* "OC" on the wire */
/* The newest protocol version this build speaks, and the oldest it still
 * accepts; the HELLO exchange settles on the newest both ends know.
 * 2 added INFO (FILE_READ announces the file's size before its data). */
#define OC_PROTO_VERSION      2u
#define OC_PROTO_VERSION_MIN  1u
#define OC_PROTO_HEADER_SIZE  12u
/* Every frame is bounded, in both directions, so that neither side can be
 * made to allocate more than this for one frame. */
#define OC_PROTO_MAX_PAYLOAD  (256u * 1024u)
/* Credit each side implicitly grants the other for each (stream, channel)
 * that carries DATA, before any WINDOW frame.  Senders never exceed the
 * credit they hold; receivers return credit with WINDOW as they consume. */
#define OC_PROTO_INITIAL_WINDOW (4u * 1024u * 1024u)
/* Limits on the pieces of a request, checked by the agent. */
#define OC_PROTO_MAX_PATH     4096u
#define OC_PROTO_MAX_ARGS     4096u

enum oc_proto_type {
    /* connection (stream 0) */
    OC_T_HELLO     = 0x01, /* host -> guest: versions, time, id */
    OC_T_HELLO_ACK = 0x02, /* guest -> host: chosen version, agent info */
    OC_T_PING      = 0x03, /* either way; answered by PONG with same payload */
    OC_T_PONG      = 0x04,
    /* streams */
    OC_T_OPEN      = 0x10, /* host -> guest: start an operation (OC_F_OP) */
    OC_T_DATA      = 0x11, /* bytes on (stream, chan) */
    OC_T_EOF       = 0x12, /* no more DATA on (stream, chan) */
    OC_T_WINDOW    = 0x13, /* u32 credit returned for (stream, chan) */
    OC_T_RESULT    = 0x14, /* guest -> host: operation finished; stream ends */
    OC_T_ERROR     = 0x15, /* operation (or, on stream 0, connection) failed */
    OC_T_CANCEL    = 0x16, /* host -> guest: abandon the operation */
    OC_T_SIGNAL    = 0x17, /* host -> guest: OC_F_SIGNAL to the process */
    OC_T_INFO      = 0x18, /* guest -> host, v2: what an operation knows before its
                            * data (FILE_READ: OC_F_SIZE) */
    OC_T_RESIZE    = 0x19, /* host -> guest: OC_F_COLS and OC_F_ROWS for a PTY
                            * session's terminal (on an attach stream) */
    /* 0x1a..0x3f are reserved for file watch and port forwarding; an end
     * that does not know a type answers ERROR. */
};

/* Channels of a stream. */
enum oc_proto_chan {
    OC_CHAN_IN     = 0, /* host -> guest: stdin, file contents to write */
    OC_CHAN_OUT    = 1, /* guest -> host: stdout, file contents, list records */
    OC_CHAN_ERR    = 2, /* guest -> host: stderr */
};

/* Operations carried by OPEN in OC_F_OP. */
enum oc_proto_op {
    OC_OP_EXEC       = 1,
    OC_OP_FILE_READ  = 2,
    OC_OP_FILE_WRITE = 3,
    OC_OP_FILE_LIST  = 4,
    OC_OP_FILE_STAT  = 5,
    OC_OP_FILE_MKDIR = 6,
    OC_OP_FILE_REMOVE = 7,
    OC_OP_FILE_RENAME = 8,
    /* Background sessions: a process that outlives streams and connections
     * (docs/protocol.md, "Sessions").  An agent that predates them answers
     * ERROR UNSUPPORTED, so they need no version of their own. */
    OC_OP_SESSION_START  = 9,
    OC_OP_SESSION_ATTACH = 10,
    OC_OP_SESSION_LIST   = 11,
    OC_OP_SESSION_KILL   = 12,
    /* A TCP connection to a port on the guest's loopback, its bytes as
     * DATA both ways (docs/protocol.md, PORT_CONNECT); older agents answer
     * ERROR UNSUPPORTED. */
    OC_OP_PORT_CONNECT   = 13,
};

/* Output of a session kept by the agent for replay, per channel (stdout,
 * stderr); allocated as output comes, up to this.  When full, the oldest
 * bytes are dropped. */
#define OC_PROTO_SESSION_RING   (1024u * 1024u)
/* Sessions an agent keeps at once, running or exited. */
#define OC_PROTO_MAX_SESSIONS   64u

/* Field tags.  Grouped by use; a tag keeps its number forever. */
enum oc_proto_field {
    /* HELLO / HELLO_ACK */
    OC_F_VERSION_MIN  = 0x0001, /* u32 */
    OC_F_VERSION_MAX  = 0x0002, /* u32 */
    OC_F_VERSION      = 0x0003, /* u32, chosen */
    OC_F_TIME_NS      = 0x0004, /* u64, host CLOCK_REALTIME */
    OC_F_AGENT        = 0x0005, /* string, agent name and version */
    OC_F_BOOT_ID      = 0x0006, /* string */
    OC_F_ENTROPY      = 0x0007, /* bytes mixed into the guest RNG */
    OC_F_NONCE        = 0x0008, /* u64, echoed in HELLO_ACK */
    OC_F_HOSTNAME     = 0x0009, /* string: the sandbox's id, which a PID 1 agent
                                 * makes the hostname when it differs from the
                                 * last one a host sent (a fork or a restore) */
    /* OPEN */
    OC_F_OP           = 0x0010, /* u32 enum oc_proto_op */
    OC_F_ARG          = 0x0011, /* string, repeated: argv (no shell) */
    OC_F_COMMAND      = 0x0012, /* string: run with /bin/sh -c */
    OC_F_ENV          = 0x0013, /* string "K=V", repeated */
    OC_F_CWD          = 0x0014, /* string */
    OC_F_TIMEOUT_MS   = 0x0015, /* u32, 0 = none */
    OC_F_STDIN        = 0x0016, /* u8 1: stdin comes as DATA on OC_CHAN_IN */
    OC_F_PATH         = 0x0017, /* string */
    OC_F_NEW_PATH     = 0x0018, /* string */
    OC_F_MODE         = 0x0019, /* u32 permission bits */
    OC_F_PARENTS      = 0x001a, /* u8: mkdir -p */
    OC_F_RECURSIVE    = 0x001b, /* u8: remove recursively */
    OC_F_SIGNAL       = 0x001c, /* u32 signal number (SIGNAL) */
    OC_F_USER         = 0x001d, /* string: run as USER[:GROUP] (names or numbers) */
    /* RESULT */
    OC_F_EXIT_CODE    = 0x0020, /* i32 */
    OC_F_EXIT_SIGNAL  = 0x0021, /* u32 signal that ended it, 0 if none */
    OC_F_TIMED_OUT    = 0x0022, /* u8 */
    OC_F_SIZE         = 0x0023, /* u64 */
    OC_F_DURATION_US  = 0x0024, /* u64 */
    /* file entries (STAT result, LIST records) */
    OC_F_NAME         = 0x0030, /* string */
    OC_F_FTYPE        = 0x0031, /* u8 enum oc_proto_ftype */
    OC_F_MTIME_NS     = 0x0032, /* u64 */
    OC_F_LINK_TARGET  = 0x0033, /* string */
    /* sessions */
    OC_F_SESSION      = 0x0050, /* u32 session id, > 0 */
    OC_F_PID          = 0x0051, /* u32 */
    OC_F_RUNNING      = 0x0052, /* u8 */
    OC_F_STARTED_MS   = 0x0053, /* u64, unix ms */
    OC_F_REPLAY_END   = 0x0054, /* u8 1 in INFO: the scrollback has been sent */
    OC_F_COLS         = 0x0055, /* u32 terminal columns: SESSION_START (with ROWS:
                                 * a PTY session), RESIZE, SESSION_LIST */
    OC_F_ROWS         = 0x0056, /* u32 terminal rows */
    OC_F_SKIPPED      = 0x0057, /* u64 in INFO on chan 1 or 2: an attacher that fell
                                 * behind the ring skips this many bytes here */
    /* ERROR */
    OC_F_PORT         = 0x0060, /* u32 TCP port, 1 to 65535 (PORT_CONNECT; and in its
                                 * INFO: the connection is made) */
    OC_F_ERRCODE      = 0x0040, /* u32 enum oc_proto_err */
    OC_F_MESSAGE      = 0x0041, /* string */
};

enum oc_proto_ftype {
    OC_FTYPE_FILE = 1,
    OC_FTYPE_DIR = 2,
    OC_FTYPE_SYMLINK = 3,
    OC_FTYPE_OTHER = 4,
};

/* Error codes in ERROR frames: portable, not the guest's errno values. */
enum oc_proto_err {
    OC_PERR_PROTOCOL    = 1,  /* malformed or unexpected frame */
    OC_PERR_UNSUPPORTED = 2,  /* unknown type, op, field or version */
    OC_PERR_NOENT       = 3,
    OC_PERR_EXIST       = 4,
    OC_PERR_NOTDIR      = 5,
    OC_PERR_ISDIR       = 6,
    OC_PERR_ACCES       = 7,
    OC_PERR_NOSPC       = 8,
    OC_PERR_INVAL       = 9,
    OC_PERR_NOTEMPTY    = 10,
    OC_PERR_IO          = 11,
    OC_PERR_LIMIT       = 12, /* too many streams, too long a path, ... */
    OC_PERR_BUSY        = 13,
};

/* ---- frame header ---- */

typedef struct {
    uint8_t type;
    uint8_t chan;
    uint32_t stream;
    uint32_t length;
} oc_proto_header;

void oc_proto_header_encode(uint8_t out[OC_PROTO_HEADER_SIZE], const oc_proto_header *h);
/* Returns 0, or -1 if the magic is wrong or length exceeds the bound. */
int oc_proto_header_decode(oc_proto_header *h, const uint8_t in[OC_PROTO_HEADER_SIZE]);

/* ---- field writer: appends fields to a caller-owned fixed buffer ---- */

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow; /* set when a field did not fit; the buffer is then unusable */
} oc_proto_writer;

void oc_proto_writer_init(oc_proto_writer *w, uint8_t *buf, size_t cap);
void oc_proto_put_bytes(oc_proto_writer *w, uint16_t tag, const void *data, size_t len);
void oc_proto_put_str(oc_proto_writer *w, uint16_t tag, const char *s);
void oc_proto_put_u8(oc_proto_writer *w, uint16_t tag, uint8_t v);
void oc_proto_put_u32(oc_proto_writer *w, uint16_t tag, uint32_t v);
void oc_proto_put_u64(oc_proto_writer *w, uint16_t tag, uint64_t v);
void oc_proto_put_i32(oc_proto_writer *w, uint16_t tag, int32_t v);

/* ---- field reader: walks the fields of a payload in place ---- */

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} oc_proto_reader;

typedef struct {
    uint16_t tag;
    uint32_t len;
    const uint8_t *data; /* points into the payload; not NUL-terminated */
} oc_proto_field;

void oc_proto_reader_init(oc_proto_reader *r, const void *buf, size_t len);
/* Returns 1 and fills f for the next field, 0 at the end, -1 if the payload
 * is malformed (a field runs past the end). */
int oc_proto_next(oc_proto_reader *r, oc_proto_field *f);
/* Integer accessors accept 1, 4 or 8 byte fields; return -1 on other sizes. */
int oc_proto_field_u64(const oc_proto_field *f, uint64_t *out);
int oc_proto_field_u32(const oc_proto_field *f, uint32_t *out);
/* Copies a string field into out (NUL-terminated).  Returns -1 if it does not
 * fit in cap or contains a NUL byte. */
int oc_proto_field_str(const oc_proto_field *f, char *out, size_t cap);

/* Helpers for building a complete frame (header + payload) in one buffer of
 * at least OC_PROTO_HEADER_SIZE + payload bytes.  Returns total size. */
size_t oc_proto_frame(uint8_t *out, uint8_t type, uint8_t chan, uint32_t stream,
                      const void *payload, uint32_t length);

const char *oc_proto_type_name(uint8_t type);
const char *oc_proto_err_name(uint32_t code);

#endif /* OC_PROTO_H */
