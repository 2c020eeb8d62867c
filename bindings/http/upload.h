/* upload.h: file uploads (PUT .../files) go to an unlinked temporary file
 * as they arrive, not into memory, and reach the sandbox from there. */
#pragma once

#include <libsoup/soup.h>

/* Called once the headers are in: the body of msg goes to a temporary file,
 * up to limit bytes (past it, the connection is dropped).  FALSE if no
 * temporary file could be made (the caller answers 500). */
gboolean http_upload_begin(SoupServerMessage *msg, gint64 limit, GError **error);
/* The body's file, rewound, for the handler to own; -1 if msg has none. */
int http_upload_take_fd(SoupServerMessage *msg);
