/* context.h: the library context: one libvirt connection, the state
 * directory, and a private thread running a GMainContext that reads every
 * agent connection of this context. */
#ifndef OC_CORE_CONTEXT_H
#define OC_CORE_CONTEXT_H

#include <glib.h>
#include <libvirt/libvirt.h>

#include "agent/agent.h"
#include "opencomputer.h"

struct oc_context {
    gint refcount;
    virConnectPtr conn;
    char *uri;
    char *state_dir;
    const char *accelerator;  /* "kvm" or "tcg" */
    const char *domain_type;  /* "kvm" or "qemu" */
    GMainContext *main_context;
    GMainLoop *loop;
    GThread *thread;
    GMutex lock;              /* guards agents */
    GHashTable *agents;       /* sandbox id -> AgentSlot */
    struct _CorePool *pool;   /* the warm pool this context keeps, or NULL */
};

oc_context *core_context_new(const char *uri, const char *state_dir, GError **error);
void core_context_free(oc_context *ctx);
/* Under TCG, logs a warning that WHAT (the sandboxes just made) runs without
 * a security boundary: said on every create, so that no log of one misses it. */
void core_context_warn_isolation(oc_context *ctx, const char *what);

/* How long an idle agent connection stays open.  QEMU serves one client per
 * socket and a sandbox has VIRT_AGENT_PORTS of them, so a connection held
 * forever would take a port from other processes; a short linger keeps
 * back-to-back calls from reconnecting every time. */
#define CORE_AGENT_LINGER_MS 1000
#define CORE_AGENT_CONNECT_TIMEOUT_MS 30000

/* Returns a live connection to the sandbox's agent (opening one if needed)
 * that the caller uses until core_agent_release(). */
AgentConn *core_agent_acquire(oc_context *ctx, const char *id, virDomainPtr dom,
                              guint timeout_ms, GError **error);
/* The sandbox's connection if one is open and alive, else NULL; never
 * connects. */
AgentConn *core_agent_acquire_live(oc_context *ctx, const char *id);
void core_agent_release(oc_context *ctx, const char *id, AgentConn *conn);
/* Closes the sandbox's connection, if any (kill, stop). */
void core_agent_forget(oc_context *ctx, const char *id);

#endif
