/* idle.h: kept-alive connections between requests.
 *
 * libsoup 3.2 neither times out a kept-alive connection that waits for its
 * next request, nor closes it when the client does (the socket stays in
 * CLOSE_WAIT: one file descriptor lost per connection that a client such
 * as curl closes after its request).  So oc-server watches the socket
 * between requests itself: the client's close closes it, and so does
 * silence for io-timeout-s. */
#pragma once

#include <libsoup/soup.h>

/* At the end of msg (request-finished): watches its connection, if it stays
 * open, until the next request's first byte, which starts that request's
 * deadline (deadline.h); closes it after io_timeout_s of silence. */
void http_idle_watch(SoupServerMessage *msg, guint io_timeout_s, guint request_timeout_s);
