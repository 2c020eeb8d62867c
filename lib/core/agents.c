/* agents.c: one agent connection per sandbox per context, shared by every
 * thread and handle of that sandbox, closed after a short idle linger. */
#include "core/context.h"

#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"

typedef struct {
    AgentConn *conn;
    guint users;
    GSource *linger;
    GMutex open_lock; /* one opener at a time: QEMU accepts one client */
} AgentSlot;

typedef struct {
    oc_context *ctx;
    char *id;
} LingerData;

static AgentSlot *slot_get(oc_context *ctx, const char *id)
{
    AgentSlot *slot = g_hash_table_lookup(ctx->agents, id);
    if (!slot) {
        slot = g_new0(AgentSlot, 1);
        g_mutex_init(&slot->open_lock);
        g_hash_table_insert(ctx->agents, g_strdup(id), slot);
    }
    return slot;
}

static void slot_cancel_linger(AgentSlot *slot)
{
    if (slot->linger) {
        g_source_destroy(slot->linger);
        g_source_unref(slot->linger);
        slot->linger = NULL;
    }
}

AgentConn *core_agent_acquire(oc_context *ctx, const char *id, virDomainPtr dom,
                              guint timeout_ms, GError **error)
{
    AgentSlot *slot;
    AgentConn *conn = NULL;
    g_autofree char *path = NULL;

    g_mutex_lock(&ctx->lock);
    slot = slot_get(ctx, id);
    slot->users++; /* keeps the slot alive while we open outside the lock */
    g_mutex_unlock(&ctx->lock);

    g_mutex_lock(&slot->open_lock);
    g_mutex_lock(&ctx->lock);
    slot_cancel_linger(slot);
    if (slot->conn && !agent_conn_is_alive(slot->conn)) {
        /* closed outside the lock below */
        conn = slot->conn;
        slot->conn = NULL;
    }
    g_mutex_unlock(&ctx->lock);
    if (conn)
        agent_conn_close(conn);
    conn = slot->conn;
    if (!conn) {
        path = virt_agent_socket(dom, error);
        if (path)
            conn = agent_conn_open(path, ctx->main_context, timeout_ms, error);
        if (conn)
            log_debug("%s: agent connected (%s)", id, agent_conn_agent_version(conn));
        g_mutex_lock(&ctx->lock);
        slot->conn = conn;
        g_mutex_unlock(&ctx->lock);
    }
    g_mutex_unlock(&slot->open_lock);
    if (!conn) {
        g_mutex_lock(&ctx->lock);
        slot->users--;
        g_mutex_unlock(&ctx->lock);
        g_prefix_error(error, "sandbox %s: ", id);
    }
    return conn;
}

AgentConn *core_agent_acquire_live(oc_context *ctx, const char *id)
{
    AgentSlot *slot;
    AgentConn *conn = NULL;

    g_mutex_lock(&ctx->lock);
    slot = g_hash_table_lookup(ctx->agents, id);
    if (slot && slot->conn && agent_conn_is_alive(slot->conn)) {
        slot_cancel_linger(slot);
        slot->users++;
        conn = slot->conn;
    }
    g_mutex_unlock(&ctx->lock);
    return conn;
}

static gboolean linger_expired(gpointer data)
{
    LingerData *ld = data;
    oc_context *ctx = ld->ctx;
    AgentSlot *slot;
    AgentConn *conn = NULL;

    g_mutex_lock(&ctx->lock);
    slot = g_hash_table_lookup(ctx->agents, ld->id);
    if (slot && slot->users == 0 && slot->linger == g_main_current_source()) {
        g_source_unref(slot->linger);
        slot->linger = NULL;
        conn = slot->conn;
        slot->conn = NULL;
    }
    g_mutex_unlock(&ctx->lock);
    if (conn) {
        log_debug("%s: closing idle agent connection", ld->id);
        agent_conn_close(conn);
    }
    return G_SOURCE_REMOVE;
}

static void linger_data_free(gpointer data)
{
    LingerData *ld = data;
    g_free(ld->id);
    g_free(ld);
}

void core_agent_release(oc_context *ctx, const char *id, AgentConn *conn)
{
    AgentSlot *slot;
    AgentConn *dead = NULL;

    g_mutex_lock(&ctx->lock);
    slot = g_hash_table_lookup(ctx->agents, id);
    g_assert(slot && slot->users > 0);
    slot->users--;
    if (slot->users == 0 && slot->conn) {
        if (!agent_conn_is_alive(slot->conn)) {
            dead = slot->conn;
            slot->conn = NULL;
        } else if (!slot->linger) {
            LingerData *ld = g_new0(LingerData, 1);
            ld->ctx = ctx;
            ld->id = g_strdup(id);
            slot->linger = g_timeout_source_new(CORE_AGENT_LINGER_MS);
            g_source_set_callback(slot->linger, linger_expired, ld, linger_data_free);
            g_source_attach(slot->linger, ctx->main_context);
        }
    }
    g_mutex_unlock(&ctx->lock);
    if (dead)
        agent_conn_close(dead);
}

void core_agent_forget(oc_context *ctx, const char *id)
{
    AgentSlot *slot;
    AgentConn *conn = NULL;

    g_mutex_lock(&ctx->lock);
    slot = g_hash_table_lookup(ctx->agents, id);
    /* With users in flight the connection stays: they hold pointers to it.
     * The VM going away hangs the socket up, their calls fail, and the last
     * core_agent_release() closes it. */
    if (slot && slot->users == 0) {
        slot_cancel_linger(slot);
        conn = slot->conn;
        g_hash_table_remove(ctx->agents, id);
        g_mutex_clear(&slot->open_lock);
        g_free(slot);
    }
    g_mutex_unlock(&ctx->lock);
    if (conn)
        agent_conn_close(conn);
}
