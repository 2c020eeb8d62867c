/* bigbuf.h: byte arrays that may reach many MiB (whole-file reads) without
 * paying for it in page faults. */
#ifndef OC_UTIL_BIGBUF_H
#define OC_UTIL_BIGBUF_H

#include <glib.h>

/* Makes room in the empty array b for size bytes in one allocation, backed
 * by transparent huge pages where the kernel offers them, so that filling
 * it neither reallocates nor faults page by page. */
void bigbuf_reserve(GByteArray *b, gsize size);

#endif
