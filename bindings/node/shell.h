/* shell.h: stateful shells (oc_shell) for oc_native.c.
 *
 * A shell box owns one oc_shell and makes oc_shell_close() wait for runs in
 * progress (which the library requires), killing the shell first so that
 * they end at once.  Runs may overlap each other: the library refuses the
 * second (shell busy). */
#ifndef OC_NODE_SHELL_H
#define OC_NODE_SHELL_H

#include <node_api.h>
#include <opencomputer.h>

typedef struct shell_box shell_box;

/* Main thread: a JS handle (a tagged external) that owns sh (also on
 * failure) and takes a reference on sb. */
napi_status shell_value(napi_env env, oc_shell *sh, oc_sandbox *sb, napi_value *out);
/* Main thread: the box of a handle, with a reference for a job. */
napi_status get_shell(napi_env env, napi_value v, shell_box **out);
/* Main thread: drops a job's reference (NULL-safe). */
void shell_unref(shell_box *b);

/* A job's worker thread.  Once closed, a run fails with OC_ESTATE and
 * *message says why. */
int shell_box_run(shell_box *b, oc_exec_result **out, const char *command, int64_t timeout_ms,
                  const char **message, oc_error **error);
void shell_box_close(shell_box *b);

#endif
