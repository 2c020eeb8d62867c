/* bigbuf.c: see bigbuf.h.
 *
 * Why: the bytes of a 64 MiB read land in memory nobody has touched yet,
 * and each first touch of a 4 KiB page is a fault.  Measured on the build
 * machines (themselves virtual): filling a fresh 64 MiB buffer takes
 * ~265 ms in 4 KiB pages and ~15 ms in 2 MiB pages, against ~200 ms for
 * the transfer itself.  Growing the buffer by doubling is no cure: each
 * realloc moves the huge pages (mremap) and that was slower still.  So the
 * buffer is sized once, from the size the agent announces (INFO), and the
 * kernel is asked for huge pages (THP's default mode is "madvise"). */
#include "util/bigbuf.h"

#include <sys/mman.h>

#define HUGE_PAGE ((gsize)2 << 20)
/* Below this, huge pages save little and may waste most of one. */
#define BIGBUF_HUGE_MIN (4 * HUGE_PAGE)

void bigbuf_reserve(GByteArray *b, gsize size)
{
    g_return_if_fail(b->len == 0 && size <= G_MAXUINT);
    /* Growing the length allocates without writing (the array does not
     * clear); shrinking it back keeps the allocation. */
    g_byte_array_set_size(b, (guint)size);
    g_byte_array_set_size(b, 0);
    if (size >= BIGBUF_HUGE_MIN) {
        guintptr start = ((guintptr)b->data + HUGE_PAGE - 1) & ~(guintptr)(HUGE_PAGE - 1);
        guintptr end = ((guintptr)b->data + size) & ~(guintptr)(HUGE_PAGE - 1);
        /* Advice only: without THP the kernel says EINVAL and nothing changes. */
        if (end > start)
            (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
}
