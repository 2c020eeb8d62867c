/* shell.c: stateful shells for the Node binding (see shell.h).
 *
 * The box is counted on the main thread (the JS handle and each job); when
 * the count drops to zero with the shell still open (the handle was
 * collected without close()), a detached thread closes it, as closing
 * talks to the sandbox and must not block the main thread. */
#include "shell.h"
#include "convert.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

static const napi_type_tag shell_tag = { 0x6f637368656c6c21ULL, 0x4e6f646548616e64ULL };

struct shell_box {
    pthread_mutex_t lock;
    pthread_cond_t idle;  /* runs dropped to 0 */
    oc_shell *sh;         /* guarded by lock; NULL once closed */
    unsigned runs;        /* guarded by lock: calls in oc_shell_run */
    oc_sandbox *sb;       /* to kill the shell's session */
    uint32_t session;
    unsigned refs;        /* main thread only */
};

int shell_box_run(shell_box *b, oc_exec_result **out, const char *command, int64_t timeout_ms,
                  const char **message, oc_error **error)
{
    pthread_mutex_lock(&b->lock);
    oc_shell *sh = b->sh;
    if (sh)
        b->runs++;
    pthread_mutex_unlock(&b->lock);
    if (!sh) {
        *message = "this shell is closed; open a new one";
        return OC_ESTATE;
    }
    int rc = oc_shell_run(out, sh, command, timeout_ms, error);
    pthread_mutex_lock(&b->lock);
    if (--b->runs == 0)
        pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void shell_box_close(shell_box *b)
{
    pthread_mutex_lock(&b->lock);
    oc_shell *sh = b->sh;
    bool busy = b->runs > 0;
    b->sh = NULL; /* no new runs */
    pthread_mutex_unlock(&b->lock);
    if (!sh)
        return;
    if (busy) /* the run in progress ends (shell gone) rather than runs its course */
        oc_exec_kill(b->sb, b->session, 0, NULL);
    pthread_mutex_lock(&b->lock);
    while (b->runs > 0)
        pthread_cond_wait(&b->idle, &b->lock);
    pthread_mutex_unlock(&b->lock);
    oc_shell_close(sh);
}

static void box_free(shell_box *b)
{
    oc_sandbox_unref(b->sb);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->idle);
    free(b);
}

static void *close_thread(void *data)
{
    shell_box_close(data);
    box_free(data);
    return NULL;
}

void shell_unref(shell_box *b)
{
    pthread_t t;
    pthread_attr_t attr;

    if (!b || --b->refs > 0)
        return;
    if (!b->sh) { /* no job is left, so no other thread reads sh now */
        box_free(b);
        return;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, close_thread, b) != 0)
        close_thread(b); /* no thread to spare: close it here */
    pthread_attr_destroy(&attr);
}

static void js_finalize(napi_env env, void *data, void *hint)
{
    shell_unref(data);
}

napi_status shell_value(napi_env env, oc_shell *sh, oc_sandbox *sb, napi_value *out)
{
    shell_box *b = calloc(1, sizeof(*b));

    if (!b) {
        oc_shell_close(sh);
        return napi_generic_failure;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->idle, NULL);
    b->sh = sh;
    b->sb = oc_sandbox_ref(sb);
    b->session = oc_shell_session_id(sh);
    b->refs = 1;
    return tagged_value(env, b, js_finalize, &shell_tag, out);
}

napi_status get_shell(napi_env env, napi_value v, shell_box **out)
{
    napi_status s = get_tagged(env, v, &shell_tag, "a shell handle", (void **)out);
    if (s == napi_ok)
        (*out)->refs++;
    return s;
}
