/* jsonlines.h: splits a byte stream into JSON-line events, the host side of
 * agent sessions (docs/agent-sessions.md).
 *
 * Each line that holds a JSON object is an event; its type is its "type"
 * member when that is a string, else "".  Anything else becomes an "error"
 * event made here ("source":"host") carrying the raw text, and the stream
 * goes on.  Lines are bounded: one longer than max_line becomes an error
 * event with an excerpt, and the rest of it is dropped.  Blank lines are
 * skipped. */
#ifndef OC_UTIL_JSONLINES_H
#define OC_UTIL_JSONLINES_H

#include <glib.h>

/* The longest excerpt of a line an error event carries when the line was
 * too long. */
#define JSON_LINES_EXCERPT 1024

/* json is one line of JSON text without its newline, valid during the
 * call. */
typedef void (*JsonLinesEmit)(const char *type, const char *json, gpointer user_data);

typedef struct JsonLines JsonLines;

JsonLines *json_lines_new(gsize max_line, JsonLinesEmit emit, gpointer user_data);
void json_lines_free(JsonLines *jl);
void json_lines_feed(JsonLines *jl, const char *data, gsize len);
/* bytes of the stream were lost here: says so with an error event, and
 * drops the line the gap cut (what was buffered, and what comes up to the
 * next newline). */
void json_lines_gap(JsonLines *jl, guint64 bytes);
/* The stream ended: a last line without a newline is taken as it is. */
void json_lines_finish(JsonLines *jl);

#endif
