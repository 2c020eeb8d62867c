/* sandbox.h: the sandbox state machine on top of libvirt domains. */
#ifndef OC_CORE_SANDBOX_H
#define OC_CORE_SANDBOX_H

#include <glib.h>
#include <libvirt/libvirt.h>

#include "core/context.h"
#include "net/policy.h"
#include "virt/record.h"

struct oc_sandbox {
    gint refcount;
    oc_context *ctx;
    char *id;
    virDomainPtr dom;
    GMutex lock;        /* guards record and killed */
    VirtRecord *record; /* as read at create/connect, updated by our writes */
    gboolean killed;    /* killed through this handle */
    GHashTable *ports;  /* guest port -> CorePort (ports.c), or NULL; under lock */
};

struct oc_sandbox_info {
    VirtRecord *record;
    int state;
    const char *reason; /* static; NULL: nothing to add to the state */
    const char *accelerator;
    gint64 idle_deadline; /* unix seconds; 0: none */
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
    const NetPolicy *network; /* NULL: none */
} CoreCreateSpec;

/* How long a cold boot may take to reach the agent: under TCG on a loaded
 * host, boots slow down many times over. */
#define CORE_BOOT_AGENT_TIMEOUT_MS 120000
/* How long a call waits for a libvirt job (a hibernate or wake) that
 * another process began. */
#define CORE_JOB_WAIT_MS 300000

/* What a new sandbox starts from. */
typedef struct {
    const char *backing; /* the disk its overlay builds on */
    const char *image;   /* a save image to resume (a fork); NULL: boot */
    const char *scope;   /* its crash points' scope (util/crashpoint.h); NULL: "create" */
} CoreBirth;

/* A new record for spec (id, sizes, checked envs and metadata), marked
 * creating. */
VirtRecord *core_record_new(const CoreCreateSpec *spec, GError **error);
/* Gives rec its template's defaults (a built template's ENV, WORKDIR and
 * USER): envs the record does not set, exec's cwd and user. */
gboolean core_record_apply_template(oc_context *ctx, VirtRecord *rec, GError **error);
/* Makes the sandbox of rec (taken) from birth and returns once its agent
 * answers.  With hidden_lock, the sandbox stays marked creating (hidden from
 * lists, removed if this process dies) and *hidden_lock receives its create
 * lock, to close after killing it. */
oc_sandbox *core_sandbox_make(oc_context *ctx, VirtRecord *rec, const CoreBirth *birth,
                              int *hidden_lock, GError **error);
/* TRUE if the sandbox's creator is gone (its create lock is free).  A
 * creator makes the directory before it defines the domain. */
gboolean core_sandbox_creator_gone(oc_context *ctx, const char *id);
/* Removes what there is of a sandbox: its domain (dom: NULL if none) and its
 * directory, logging what fails. */
void core_sandbox_remove(oc_context *ctx, virDomainPtr dom, const char *id);
/* A handle on dom and rec (both taken). */
oc_sandbox *core_sandbox_wrap(oc_context *ctx, virDomainPtr dom, VirtRecord *rec);
/* Runs a first command in the guest: its first exec of a shell and glibc
 * reads them from disk and, under TCG, translates their code, which costs
 * a few hundred ms once per VM process.  Pool members and template
 * snapshots pay it before anyone waits on them. */
gboolean core_sandbox_warm(oc_sandbox *sb, GError **error);
/* From the warm pool, the template's ready snapshot, or a cold boot. */
oc_sandbox *core_sandbox_create(oc_context *ctx, const CoreCreateSpec *spec, GError **error);
oc_sandbox *core_sandbox_connect(oc_context *ctx, const char *id, GError **error);
void core_sandbox_free(oc_sandbox *sb);
gboolean core_sandbox_kill(oc_sandbox *sb, GError **error);
int core_sandbox_state(oc_sandbox *sb, GError **error);
/* The same, and why (see virt_get_state()). */
int core_sandbox_state_why(oc_sandbox *sb, const char **why, GError **error);
/* OC_ENOTFOUND if the sandbox was killed through this handle. */
gboolean core_sandbox_check_alive(oc_sandbox *sb, GError **error);
/* Sets the idle timeout and restarts the idle clock. */
gboolean core_sandbox_set_timeout(oc_sandbox *sb, guint32 timeout_s, GError **error);
/* Stores the last wake kind (unless OC_WAKE_NONE) and the idle timeout
 * (unless < 0) in the sandbox's record. */
gboolean core_sandbox_update_record(oc_sandbox *sb, int last_wake, gint64 timeout_s,
                                    GError **error);
/* Writes rec (taken), read and changed by the caller, as the sandbox's
 * record in libvirt and in the handle. */
gboolean core_sandbox_store_record(oc_sandbox *sb, VirtRecord *rec, GError **error);
oc_sandbox_info *core_sandbox_info(oc_sandbox *sb, GError **error);
void core_sandbox_info_free(oc_sandbox_info *info);
/* GPtrArray of oc_sandbox_info*.  Removes, on the way, sandboxes whose
 * creating process died before they were ready. */
GPtrArray *core_sandbox_list(oc_context *ctx, const char *const *filter, GError **error);

/* One call through the library on a sandbox (exec, files, pty): it holds
 * the agent connection and marks the sandbox busy, so its idle clock does
 * not run out meanwhile. */
typedef struct {
    AgentConn *conn;
    int activity_fd;
} CoreCall;

/* Starts a call: wakes a hibernated sandbox, and fails with a clear message
 * when the sandbox cannot run.  Pair with core_call_end(). */
gboolean core_call_begin(oc_sandbox *sb, CoreCall *call, GError **error);
void core_call_end(oc_sandbox *sb, CoreCall *call);

/* One agent operation as a whole call: begin, op, end; its error names the
 * sandbox. */
typedef gboolean (*CoreCallOp)(AgentConn *conn, gpointer data, GError **error);
gboolean core_call_run(oc_sandbox *sb, CoreCallOp op, gpointer data, GError **error);
/* The sandbox's envs followed by extra ("K=V" each, later wins), on top of
 * the guest defaults: a NULL-terminated array for the agent. */
char **core_sandbox_exec_env(oc_sandbox *sb, const char *const *extra);

#endif
