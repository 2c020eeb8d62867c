/* oc-proto.c: frame header and field encoding shared by host and guest. */
#include "oc-proto.h"

#include <string.h>

static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

void oc_proto_header_encode(uint8_t out[OC_PROTO_HEADER_SIZE], const oc_proto_header *h)
{
    put_le16(out, OC_PROTO_MAGIC);
    out[2] = h->type;
    out[3] = h->chan;
    put_le32(out + 4, h->stream);
    put_le32(out + 8, h->length);
}

int oc_proto_header_decode(oc_proto_header *h, const uint8_t in[OC_PROTO_HEADER_SIZE])
{
    if (get_le16(in) != OC_PROTO_MAGIC)
        return -1;
    h->type = in[2];
    h->chan = in[3];
    h->stream = get_le32(in + 4);
    h->length = get_le32(in + 8);
    if (h->length > OC_PROTO_MAX_PAYLOAD)
        return -1;
    return 0;
}

void oc_proto_writer_init(oc_proto_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
}

void oc_proto_put_bytes(oc_proto_writer *w, uint16_t tag, const void *data, size_t len)
{
    if (w->overflow || len > UINT32_MAX || w->cap - w->len < 6 || w->cap - w->len - 6 < len) {
        w->overflow = 1;
        return;
    }
    put_le16(w->buf + w->len, tag);
    put_le32(w->buf + w->len + 2, (uint32_t)len);
    if (len)
        memcpy(w->buf + w->len + 6, data, len);
    w->len += 6 + len;
}

void oc_proto_put_str(oc_proto_writer *w, uint16_t tag, const char *s)
{
    oc_proto_put_bytes(w, tag, s, strlen(s));
}

void oc_proto_put_u8(oc_proto_writer *w, uint16_t tag, uint8_t v)
{
    oc_proto_put_bytes(w, tag, &v, 1);
}

void oc_proto_put_u32(oc_proto_writer *w, uint16_t tag, uint32_t v)
{
    uint8_t b[4];
    put_le32(b, v);
    oc_proto_put_bytes(w, tag, b, sizeof b);
}

void oc_proto_put_u64(oc_proto_writer *w, uint16_t tag, uint64_t v)
{
    uint8_t b[8];
    put_le64(b, v);
    oc_proto_put_bytes(w, tag, b, sizeof b);
}

void oc_proto_put_i32(oc_proto_writer *w, uint16_t tag, int32_t v)
{
    oc_proto_put_u32(w, tag, (uint32_t)v);
}

void oc_proto_reader_init(oc_proto_reader *r, const void *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
}

int oc_proto_next(oc_proto_reader *r, oc_proto_field *f)
{
    if (r->pos == r->len)
        return 0;
    if (r->len - r->pos < 6)
        return -1;
    uint16_t tag = get_le16(r->buf + r->pos);
    uint32_t len = get_le32(r->buf + r->pos + 2);
    if (r->len - r->pos - 6 < len)
        return -1;
    f->tag = tag;
    f->len = len;
    f->data = r->buf + r->pos + 6;
    r->pos += 6 + (size_t)len;
    return 1;
}

int oc_proto_field_u64(const oc_proto_field *f, uint64_t *out)
{
    switch (f->len) {
    case 1: *out = f->data[0]; return 0;
    case 4: *out = get_le32(f->data); return 0;
    case 8: *out = get_le64(f->data); return 0;
    default: return -1;
    }
}

int oc_proto_field_u32(const oc_proto_field *f, uint32_t *out)
{
    uint64_t v;
    if (oc_proto_field_u64(f, &v) < 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int oc_proto_field_str(const oc_proto_field *f, char *out, size_t cap)
{
    if (f->len >= cap || memchr(f->data, 0, f->len))
        return -1;
    memcpy(out, f->data, f->len);
    out[f->len] = '\0';
    return 0;
}

size_t oc_proto_frame(uint8_t *out, uint8_t type, uint8_t chan, uint32_t stream,
                      const void *payload, uint32_t length)
{
    oc_proto_header h = { .type = type, .chan = chan, .stream = stream, .length = length };
    oc_proto_header_encode(out, &h);
    if (length && payload != out + OC_PROTO_HEADER_SIZE)
        memmove(out + OC_PROTO_HEADER_SIZE, payload, length);
    return OC_PROTO_HEADER_SIZE + length;
}

const char *oc_proto_type_name(uint8_t type)
{
    switch (type) {
    case OC_T_HELLO: return "HELLO";
    case OC_T_HELLO_ACK: return "HELLO_ACK";
    case OC_T_PING: return "PING";
    case OC_T_PONG: return "PONG";
    case OC_T_OPEN: return "OPEN";
    case OC_T_DATA: return "DATA";
    case OC_T_EOF: return "EOF";
    case OC_T_WINDOW: return "WINDOW";
    case OC_T_RESULT: return "RESULT";
    case OC_T_ERROR: return "ERROR";
    case OC_T_CANCEL: return "CANCEL";
    case OC_T_SIGNAL: return "SIGNAL";
    case OC_T_INFO: return "INFO";
    case OC_T_RESIZE: return "RESIZE";
    default: return "unknown";
    }
}

const char *oc_proto_err_name(uint32_t code)
{
    switch (code) {
    case OC_PERR_PROTOCOL: return "protocol error";
    case OC_PERR_UNSUPPORTED: return "not supported";
    case OC_PERR_NOENT: return "no such file or directory";
    case OC_PERR_EXIST: return "already exists";
    case OC_PERR_NOTDIR: return "not a directory";
    case OC_PERR_ISDIR: return "is a directory";
    case OC_PERR_ACCES: return "permission denied";
    case OC_PERR_NOSPC: return "no space left on device";
    case OC_PERR_INVAL: return "invalid argument";
    case OC_PERR_NOTEMPTY: return "directory not empty";
    case OC_PERR_IO: return "input/output error";
    case OC_PERR_LIMIT: return "limit exceeded";
    case OC_PERR_BUSY: return "busy";
    default: return "unknown error";
    }
}
