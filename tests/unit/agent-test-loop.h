/* agent-test-loop.h: what the host-side agent protocol tests share: an
 * event thread running a GMainContext (the one AgentConn dispatches on), a
 * private temp directory with the agent's socket path, the real agent
 * (`$OC_AGENT_BIN --listen SOCK`) as a Check fixture with a connection to
 * it, and a sink that collects bytes. */
#ifndef OC_TEST_AGENT_TEST_LOOP_H
#define OC_TEST_AGENT_TEST_LOOP_H

#include <glib.h>

#include "agent/agent-private.h"

#define MIB (1024u * 1024u)

extern GMainContext *ctx;
extern char *tmpdir;    /* private to the test, removed after */
extern char *sock_path; /* in tmpdir */

void start_event_thread(void);
void stop_event_thread(void);
/* The agent started and conn open to it; or closed and the agent gone. */
extern AgentConn *conn;
void agent_setup(void);
void agent_teardown(void);
void kill_agent(void);
/* An AgentFileSink appending to the GByteArray user_data. */
gboolean append_sink(const void *data, gsize len, gpointer user_data, GError **error);
/* An AgentFileSource that never ends. */
gssize endless_source(void *buf, gsize cap, gpointer user_data, GError **error);

#endif
