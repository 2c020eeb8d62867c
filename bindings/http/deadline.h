/* deadline.h: the total time a client has to send a whole request (headers
 * and body).  The socket's own timeout only bounds each read, so a client
 * that sends a byte now and then would otherwise hold a connection, and a
 * server slot, for ever. */
#pragma once

#include <libsoup/soup.h>

/* Arms the deadline of msg, on the calling thread's main context (soup's):
 * seconds from now, unless http_deadline_clear() comes first, the client
 * gets 408 (when no reply was decided yet) and the connection is closed. */
void http_deadline_start(SoupServerMessage *msg, guint seconds);
/* The request is in (or over): disarms the deadline.  Idempotent. */
void http_deadline_clear(SoupServerMessage *msg);
