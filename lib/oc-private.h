/* oc-private.h: definitions shared by the public entry points (lib/oc-*.c)
 * that must not appear in the public header. */
#ifndef OC_PRIVATE_H
#define OC_PRIVATE_H

#include <glib.h>

#include "opencomputer.h"
#include "util/error.h"

struct oc_error {
    int code;
    char *message;
};

/* Rejects unknown flag bits with OC_EINVAL, naming the function. */
gboolean oc_check_flags(uint32_t flags, uint32_t allowed, const char *func, GError **error);

/* Returns OC_EINVAL through `error` from a public entry point when cond is
 * false; the message should name the function and the argument. */
#define CHECK_ARG(cond, ...)                                             \
    do {                                                                 \
        if (!(cond)) {                                                   \
            GError *e_ = NULL;                                           \
            g_set_error(&e_, OC_ERROR, OC_EINVAL, __VA_ARGS__);          \
            return oc_error_propagate(error, e_);                        \
        }                                                                \
    } while (0)

/* ---- networking (oc-network.c) ---- */

#include "net/policy.h"

/* *out: a copy of the public policy (NULL for NULL), for the core.
 * OC_EINVAL naming func for a version it does not know. */
gboolean oc_network_policy_take(const oc_network_policy *in, NetPolicy **out, const char *func,
                                GError **error);

/* ---- exec (oc-exec.c), shared with oc-exec-stream.c ---- */

#include "agent/agent.h"

/* A request built from the public arguments, and what it points into. */
typedef struct {
    AgentExecRequest req;
    GPtrArray *argv;
    char **env;
    char *cwd;  /* the sandbox's default, when the caller gave none */
    char *user; /* the sandbox's (its template's USER) */
} ExecPrep;

/* Checks the arguments common to oc_exec_run(), oc_exec_start() and
 * oc_exec_spawn() and builds the agent request.  default_timeout_ms: for
 * OC_TIMEOUT_DEFAULT. */
gboolean exec_prepare(ExecPrep *p, const char *func, oc_sandbox *sb, const char *command,
                      const oc_exec_options *opts, guint default_timeout_ms, GError **error);
/* exec_prepare() for a session: no stdin_data or max_output, no default
 * timeout. */
gboolean exec_prepare_session(ExecPrep *p, const char *func, oc_sandbox *sb, const char *command,
                              const oc_exec_options *opts, GError **error);
void exec_prep_clear(ExecPrep *p);
/* A public result that takes over res (its arrays; res is left zeroed). */
oc_exec_result *exec_result_new(AgentExecResult *res);
/* Drops the sessions keep() says no to, keeping the order (oc_agent_list). */
void exec_session_list_keep(oc_exec_session_list *l,
                            gboolean (*keep)(const oc_exec_session_info *si));

#endif
