/* agent-ping.c: a PING and its PONG, the smallest round trip to the agent.
 * Only tests/bench pings.  A PONG carries its PING's payload back: an 8-byte
 * token names the waiter, which waits on the connection's hs_cond (also
 * broadcast when the connection dies). */
#include "agent-private.h"

#include <string.h>

#define PING_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct {
    guint64 token;
    gboolean answered;
} AgentPing;

void conn_ping_answered_locked(AgentConn *conn, const guint8 *payload, guint32 len)
{
    guint64 token;

    if (len != sizeof token)
        return;
    memcpy(&token, payload, sizeof token);
    for (GSList *l = conn->pings; l; l = l->next) {
        AgentPing *p = l->data;
        if (p->token == token) {
            p->answered = TRUE;
            g_cond_broadcast(&conn->hs_cond);
        }
    }
}

gboolean agent_conn_ping(AgentConn *conn, GError **error)
{
    static gint counter;
    gint64 deadline = g_get_monotonic_time() + PING_TIMEOUT_US;
    AgentPing p = { 0 };

    p.token = ((guint64)g_random_int() << 32) | (guint32)g_atomic_int_add(&counter, 1);
    g_mutex_lock(&conn->lock);
    conn->pings = g_slist_prepend(conn->pings, &p);
    g_mutex_unlock(&conn->lock);
    gboolean sent = conn_write_frame(conn, OC_T_PING, 0, 0, &p.token, sizeof p.token, deadline,
                                     error);
    g_mutex_lock(&conn->lock);
    while (sent && !p.answered && conn->alive &&
           g_cond_wait_until(&conn->hs_cond, &conn->lock, deadline))
        ;
    conn->pings = g_slist_remove(conn->pings, &p);
    gboolean answered = p.answered;
    g_mutex_unlock(&conn->lock);
    if (!sent || answered)
        return answered;
    if (!conn_alive(conn))
        conn_set_dead_error(conn, error);
    else
        g_set_error(error, OC_ERROR, OC_ETIMEOUT, "the sandbox agent did not answer a ping in %d s",
                    (int)(PING_TIMEOUT_US / G_USEC_PER_SEC));
    return FALSE;
}
