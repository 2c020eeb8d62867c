/* sse.h: a reply sent as Server-Sent Events while its handler still works,
 * as the SDK reads template builds: "build_log" events, then one "result"
 * or "error" (dist/sse.js). */
#pragma once

#include "server.h"

typedef struct HttpSse HttpSse;

/* Whether the client asked for an event stream (Accept: text/event-stream). */
gboolean http_sse_wanted(HttpRequest *r);
/* On the handler's thread: sends r's status line and headers now, with a
 * body of events to come.  The handler then replies only through the
 * stream, which http_sse_end() finishes. */
HttpSse *http_sse_begin(HttpRequest *r, guint status);
/* "event: EVENT\ndata: JSON\n\n"; takes data.  Never blocks: a client that
 * went away just stops receiving. */
void http_sse_send(HttpSse *s, const char *event, JsonNode *data);
/* Ends the body and frees s. */
void http_sse_end(HttpSse *s);
