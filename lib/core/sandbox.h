/* sandbox.h: the sandbox state machine on top of libvirt domains. */
#ifndef OC_CORE_SANDBOX_H
#define OC_CORE_SANDBOX_H

#include <glib.h>
#include <libvirt/libvirt.h>

#include "core/context.h"
#include "virt/record.h"

struct oc_sandbox {
    gint refcount;
    oc_context *ctx;
    char *id;
    virDomainPtr dom;
    GMutex lock;        /* guards record and killed */
    VirtRecord *record; /* as read at create/connect, updated by our writes */
    gboolean killed;    /* killed through this handle */
};

struct oc_sandbox_info {
    VirtRecord *record;
    int state;
    const char *accelerator;
    char **meta_keys; /* keys of record->metadata, for the public getters */
    char **env_keys;
};

typedef struct {
    const char *template_name;
    gint64 timeout_s;
    guint32 cpu_count;
    guint32 memory_mb;
    const char *const *envs;
    const char *const *metadata;
} CoreCreateSpec;

oc_sandbox *core_sandbox_create(oc_context *ctx, const CoreCreateSpec *spec, GError **error);
oc_sandbox *core_sandbox_connect(oc_context *ctx, const char *id, GError **error);
void core_sandbox_free(oc_sandbox *sb);
gboolean core_sandbox_kill(oc_sandbox *sb, GError **error);
int core_sandbox_state(oc_sandbox *sb, GError **error);
gboolean core_sandbox_set_timeout(oc_sandbox *sb, guint32 timeout_s, GError **error);
oc_sandbox_info *core_sandbox_info(oc_sandbox *sb, GError **error);
void core_sandbox_info_free(oc_sandbox_info *info);
/* GPtrArray of oc_sandbox_info*.  Removes, on the way, sandboxes whose
 * creating process died before they were ready. */
GPtrArray *core_sandbox_list(oc_context *ctx, const char *const *filter, GError **error);

/* The agent connection for an operation; fails with a clear message when
 * the sandbox is not running.  Pair with core_sandbox_release_agent(). */
AgentConn *core_sandbox_agent(oc_sandbox *sb, GError **error);
void core_sandbox_release_agent(oc_sandbox *sb, AgentConn *conn);
/* The sandbox's envs followed by extra ("K=V" each, later wins), on top of
 * the guest defaults: a NULL-terminated array for the agent. */
char **core_sandbox_exec_env(oc_sandbox *sb, const char *const *extra);

#endif
