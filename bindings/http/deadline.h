/* deadline.h: the total time a client has to send a whole request (headers
 * and body).  The socket's own timeout only bounds each read, so a client
 * that sends a byte now and then would otherwise hold a connection, and a
 * server slot, for ever.
 *
 * The deadline belongs to the connection (its GSocket), since libsoup 3.2
 * makes the message of a kept-alive connection's next request only once it
 * has read that request's headers: idle.c starts the clock at its first
 * byte.  Everything here runs on soup's thread. */
#pragma once

#include <libsoup/soup.h>

/* soup started msg: the clock of its connection starts now, unless it runs
 * already (idle.c started it at the request's first byte).  When it runs
 * out before http_deadline_clear(), the connection is closed, after a 408
 * when the client had sent a byte of the request and no reply was decided
 * yet. */
void http_deadline_start(SoupServerMessage *msg, guint seconds);
/* The first byte of a kept-alive connection's next request came, before
 * soup has a message for it. */
void http_deadline_start_next(GSocket *sock, guint seconds);
/* The request of msg is in (or over): stops the clock.  Idempotent. */
void http_deadline_clear(SoupServerMessage *msg);
