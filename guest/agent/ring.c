/* ring.c: the byte ring that holds a session's output for replay.  Offsets
 * are absolute (bytes ever written), so that each reader keeps its own
 * cursor and can tell what it missed when the ring dropped bytes. */
#include "oc-agent.h"

#include <stdlib.h>
#include <string.h>

#define RING_MIN_ALLOC (64u * 1024u)

void ring_init(agent_ring *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max;
}

void ring_free(agent_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->len = r->head = 0;
}

uint64_t ring_start(const agent_ring *r)
{
    return r->total - r->len;
}

/* Grows the buffer (laid out flat again) towards `need`; on failure keeps
 * the old one. */
static void ring_grow(agent_ring *r, size_t need)
{
    size_t cap = r->cap * 2;
    if (cap < need)
        cap = need;
    if (cap < RING_MIN_ALLOC)
        cap = RING_MIN_ALLOC;
    if (cap > r->max)
        cap = r->max;
    uint8_t *b = malloc(cap);
    if (!b)
        return;
    const uint8_t *p;
    size_t got = 0, n;
    while ((n = ring_peek(r, ring_start(r) + got, r->len - got, &p)) > 0) {
        memcpy(b + got, p, n);
        got += n;
    }
    free(r->buf);
    r->buf = b;
    r->cap = cap;
    r->head = 0;
}

void ring_write(agent_ring *r, const uint8_t *p, size_t n)
{
    if (n > r->max) {
        /* Only the newest max bytes could stay anyway. */
        r->total += n - r->max;
        p += n - r->max;
        n = r->max;
        r->len = r->head = 0;
    }
    if (r->len + n > r->cap && r->cap < r->max)
        ring_grow(r, r->len + n);
    if (r->cap < n) {
        /* Could not allocate: these bytes are lost like dropped ones. */
        r->total += n;
        r->len = r->head = 0;
        return;
    }
    if (r->len + n > r->cap) {
        size_t drop = r->len + n - r->cap;
        r->head = (r->head + drop) % r->cap;
        r->len -= drop;
    }
    size_t tail = (r->head + r->len) % r->cap;
    size_t first = r->cap - tail < n ? r->cap - tail : n;
    memcpy(r->buf + tail, p, first);
    memcpy(r->buf, p + first, n - first);
    r->len += n;
    r->total += n;
}

size_t ring_peek(const agent_ring *r, uint64_t off, size_t max, const uint8_t **p)
{
    uint64_t start = ring_start(r);
    if (off < start || off >= r->total || !r->cap)
        return 0;
    size_t idx = (r->head + (size_t)(off - start)) % r->cap;
    size_t n = (size_t)(r->total - off);
    if (n > r->cap - idx)
        n = r->cap - idx;
    if (n > max)
        n = max;
    *p = r->buf + idx;
    return n;
}
