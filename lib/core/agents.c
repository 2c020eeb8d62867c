/* agents.c: one agent connection per sandbox per context, shared by every
 * thread and handle of that sandbox, closed after a short idle linger.
 *
 * QEMU accepts one client per socket, so a sandbox has several agent ports
 * (VIRT_AGENT_PORTS).  A connection holds an flock on sandboxes/ID/agent-N.lock
 * for as long as it uses port N, which is how processes share the ports out;
 * when every port is taken it waits on port 0, as when there was only one. */
#include "core/context.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "image/store.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"

typedef struct {
    AgentConn *conn;
    int lock_fd;      /* the port's lock while conn uses it, or -1 */
    guint users;
    GSource *linger;
    GMutex open_lock; /* one opener at a time: one port per context is enough */
} AgentSlot;

/* A connection taken out of its slot under ctx->lock, closed outside it. */
typedef struct {
    AgentConn *conn;
    int lock_fd;
} Detached;

typedef struct {
    oc_context *ctx;
    char *id;
} LingerData;

static AgentSlot *slot_get(oc_context *ctx, const char *id)
{
    AgentSlot *slot = g_hash_table_lookup(ctx->agents, id);
    if (!slot) {
        slot = g_new0(AgentSlot, 1);
        slot->lock_fd = -1;
        g_mutex_init(&slot->open_lock);
        g_hash_table_insert(ctx->agents, g_strdup(id), slot);
    }
    return slot;
}

static Detached slot_detach(AgentSlot *slot)
{
    Detached d = { slot->conn, slot->lock_fd };

    slot->conn = NULL;
    slot->lock_fd = -1;
    return d;
}

/* The connection first: the port is free for others only once it is. */
static void detached_close(Detached d)
{
    if (d.conn)
        agent_conn_close(d.conn);
    if (d.lock_fd >= 0)
        close(d.lock_fd);
}

/* The first port whose lock is free, with that lock in *lock_fd; port 0 with
 * -1 when all are taken (or the locks cannot be had at all). */
static guint pick_port(oc_context *ctx, const char *id, guint ports, int *lock_fd)
{
    g_autofree char *dir = image_sandbox_dir(ctx->state_dir, id);

    *lock_fd = -1;
    for (guint i = 0; i < ports; i++) {
        g_autofree char *name = g_strdup_printf("agent-%u.lock", i);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        if (fd < 0) {
            log_debug("%s: cannot open %s: %s", id, path, g_strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            *lock_fd = fd;
            return i;
        }
        close(fd);
    }
    return 0;
}

static AgentConn *open_conn(oc_context *ctx, const char *id, virDomainPtr dom, guint timeout_ms,
                            int *lock_fd, GError **error)
{
    g_autoptr(GPtrArray) paths = virt_agent_sockets(dom, error);
    AgentConn *conn;
    guint port;

    *lock_fd = -1;
    if (!paths)
        return NULL;
    port = pick_port(ctx, id, paths->len, lock_fd);
    if (*lock_fd < 0)
        log_debug("%s: every agent port is taken; waiting for port 0", id);
    conn = agent_conn_open_as(paths->pdata[port], id, ctx->main_context, timeout_ms, error);
    if (conn)
        log_debug("%s: agent connected on port %u (%s)", id, port,
                  agent_conn_agent_version(conn));
    else if (*lock_fd >= 0) {
        close(*lock_fd);
        *lock_fd = -1;
    }
    return conn;
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
    Detached dead = { NULL, -1 };
    int lock_fd;

    g_mutex_lock(&ctx->lock);
    slot = slot_get(ctx, id);
    slot->users++; /* keeps the slot alive while we open outside the lock */
    g_mutex_unlock(&ctx->lock);

    g_mutex_lock(&slot->open_lock);
    g_mutex_lock(&ctx->lock);
    slot_cancel_linger(slot);
    if (slot->conn && !agent_conn_is_alive(slot->conn))
        dead = slot_detach(slot);
    g_mutex_unlock(&ctx->lock);
    detached_close(dead);
    conn = slot->conn;
    if (!conn) {
        conn = open_conn(ctx, id, dom, timeout_ms, &lock_fd, error);
        g_mutex_lock(&ctx->lock);
        slot->conn = conn;
        slot->lock_fd = lock_fd;
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
    Detached idle = { NULL, -1 };

    g_mutex_lock(&ctx->lock);
    slot = g_hash_table_lookup(ctx->agents, ld->id);
    if (slot && slot->users == 0 && slot->linger == g_main_current_source()) {
        g_source_unref(slot->linger);
        slot->linger = NULL;
        idle = slot_detach(slot);
    }
    g_mutex_unlock(&ctx->lock);
    if (idle.conn)
        log_debug("%s: closing idle agent connection", ld->id);
    detached_close(idle);
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
    Detached dead = { NULL, -1 };

    g_mutex_lock(&ctx->lock);
    slot = g_hash_table_lookup(ctx->agents, id);
    g_assert(slot && slot->users > 0);
    slot->users--;
    if (slot->users == 0 && slot->conn) {
        if (!agent_conn_is_alive(slot->conn)) {
            dead = slot_detach(slot);
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
    detached_close(dead);
}

void core_agent_forget(oc_context *ctx, const char *id)
{
    AgentSlot *slot;
    Detached gone = { NULL, -1 };

    g_mutex_lock(&ctx->lock);
    slot = g_hash_table_lookup(ctx->agents, id);
    /* With users in flight the connection stays: they hold pointers to it.
     * The VM going away hangs the socket up, their calls fail, and the last
     * core_agent_release() closes it. */
    if (slot && slot->users == 0) {
        slot_cancel_linger(slot);
        gone = slot_detach(slot);
        g_hash_table_remove(ctx->agents, id);
        g_mutex_clear(&slot->open_lock);
        g_free(slot);
    }
    g_mutex_unlock(&ctx->lock);
    detached_close(gone);
}
