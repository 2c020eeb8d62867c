/* stream.c: followed sessions for the Node binding (see stream.h).
 *
 * The handle's callbacks run on its own thread (the library's); each one
 * copies its event and queues it on a thread-safe function, blocking while
 * the queue is full, so output is taken from the sandbox no faster than JS
 * consumes it (the library skips what a slow follower misses).  The main
 * thread only ever waits for the handle's thread once that thread is past
 * its last callback, or while the queue is closing, so this cannot
 * deadlock.
 *
 * Lifetime, counted on the main thread: the opening job and every later
 * job, the JS handle, and the thread-safe function each keep the stream.
 * The library handle is freed once the end has been delivered and no job
 * is using it. */
#include "stream.h"
#include "convert.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Events waiting for JS before the handle's thread blocks. */
#define QUEUE_MAX 64

static const napi_type_tag stream_tag = { 0x6f6373747265616dULL, 0x4e6f646548616e64ULL };

struct stream {
    /* The end may reach the main thread before the opening job does. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void *h;               /* guarded by lock; NULL once freed */
    bool opened;           /* guarded by lock: the open call has returned */
    bool end_queued;       /* guarded by lock: the end is on its way to JS */
    const stream_ops *ops;

    napi_threadsafe_function tsfn;
    /* main thread only */
    unsigned jobs;
    bool has_js, has_tsfn, released, ended;
};

typedef struct {
    int kind;
    int status, exit_code; /* STREAM_GAP: status is the stream */
    uint64_t bytes;        /* STREAM_GAP */
    size_t len;
    char data[];
} event;

/* ---- the handle's thread ---- */

static void push(stream *s, int kind, const char *data, size_t len, int status, int exit_code,
                 uint64_t bytes)
{
    event *ev = malloc(sizeof(*ev) + len);

    if (!ev)
        return; /* out of memory: this chunk is lost, like output a slow follower misses */
    ev->kind = kind;
    ev->status = status;
    ev->exit_code = exit_code;
    ev->bytes = bytes;
    ev->len = len;
    if (len)
        memcpy(ev->data, data, len);
    /* napi_closing: the environment is going away and frees the stream */
    if (napi_call_threadsafe_function(s->tsfn, ev, napi_tsfn_blocking) != napi_ok)
        free(ev);
}

static void on_stdout(const char *data, size_t len, void *user_data)
{
    push(user_data, STREAM_STDOUT, data, len, 0, 0, 0);
}

static void on_stderr(const char *data, size_t len, void *user_data)
{
    push(user_data, STREAM_STDERR, data, len, 0, 0, 0);
}

static void on_replay_end(void *user_data)
{
    push(user_data, STREAM_REPLAY_END, NULL, 0, 0, 0, 0);
}

static void push_end(stream *s, int status, int exit_code)
{
    pthread_mutex_lock(&s->lock);
    s->end_queued = true;
    pthread_mutex_unlock(&s->lock);
    push(s, STREAM_END, NULL, 0, status, exit_code, 0);
}

static void on_end(int status, int exit_code, void *user_data)
{
    push_end(user_data, status, exit_code);
}

static void on_event(const char *type, const char *json, void *user_data)
{
    push(user_data, STREAM_EVENT, json, strlen(json), 0, 0, 0);
}

/* On the same queue as the output, so it stays just before what follows it. */
static void on_gap(int fd, uint64_t bytes, void *user_data)
{
    push(user_data, STREAM_GAP, NULL, 0, fd, 0, bytes);
}

oc_exec_callbacks stream_callbacks(stream *s)
{
    return (oc_exec_callbacks){ OC_EXEC_CALLBACKS_VERSION, on_stdout, on_stderr, on_replay_end,
                                on_end, s, on_gap };
}

oc_agent_callbacks stream_agent_callbacks(stream *s)
{
    return (oc_agent_callbacks){ OC_AGENT_CALLBACKS_VERSION, on_event, on_stderr, on_replay_end,
                                 on_end, s };
}

static int exec_wait(void *h, int64_t timeout_ms, int *exit_code, oc_error **error)
{
    return oc_exec_wait(h, timeout_ms, exit_code, error);
}

static void exec_detach(void *h)
{
    oc_exec_detach(h);
}

static void exec_free(void *h)
{
    oc_exec_handle_free(h);
}

static int agent_wait(void *h, int64_t timeout_ms, int *exit_code, oc_error **error)
{
    return oc_agent_wait(h, timeout_ms, exit_code, error);
}

static void agent_detach(void *h)
{
    oc_agent_detach(h);
}

static void agent_free(void *h)
{
    oc_agent_close(h);
}

const stream_ops stream_exec_ops = { exec_wait, exec_detach, exec_free };
const stream_ops stream_agent_ops = { agent_wait, agent_detach, agent_free };

/* ---- worker threads ---- */

void stream_opened(stream *s, void *h)
{
    pthread_mutex_lock(&s->lock);
    s->h = h;
    s->opened = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void *stream_handle(stream *s)
{
    pthread_mutex_lock(&s->lock);
    void *h = s->h;
    pthread_mutex_unlock(&s->lock);
    return h;
}

void stream_close(stream *s)
{
    pthread_mutex_lock(&s->lock);
    /* once its end is queued, the main thread may be using the handle to
     * read the end; it frees it after */
    void *h = s->end_queued ? NULL : s->h;
    if (h)
        s->h = NULL;
    pthread_mutex_unlock(&s->lock);
    if (!h)
        return;
    s->ops->free(h); /* no callback comes after this */
    pthread_mutex_lock(&s->lock);
    bool queued = s->end_queued;
    pthread_mutex_unlock(&s->lock);
    if (!queued)
        push_end(s, OC_ECANCELLED, -1);
}

/* ---- the main thread ---- */

static void release_tsfn(stream *s)
{
    if (!s->released) {
        s->released = true;
        napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
    }
}

static void free_handle_if_done(stream *s)
{
    if (!s->ended || s->jobs)
        return;
    pthread_mutex_lock(&s->lock);
    void *h = s->h;
    s->h = NULL;
    pthread_mutex_unlock(&s->lock);
    if (h)
        s->ops->free(h);
}

static void free_if_unused(stream *s)
{
    if (s->jobs || s->has_js || s->has_tsfn)
        return;
    /* a handle left here never ended: the environment went away */
    if (s->h)
        s->ops->free(s->h);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

void stream_unref(stream *s)
{
    if (!s)
        return;
    s->jobs--;
    /* Without a handle and no end on its way, the open failed (or never
     * ran): no end will come to release the thread-safe function. */
    pthread_mutex_lock(&s->lock);
    bool orphan = !s->h && !s->end_queued;
    pthread_mutex_unlock(&s->lock);
    if (!s->ended && orphan)
        release_tsfn(s);
    free_handle_if_done(s);
    free_if_unused(s);
}

void stream_detach(stream *s)
{
    void *h = stream_handle(s);
    if (h && !s->ended && s->ops->detach)
        s->ops->detach(h);
}

/* The end: its status and message (oc_exec_wait returns at once, as
 * on_end has returned), then the handle can go. */
static napi_status end_args(napi_env env, stream *s, const event *ev, napi_value *argv)
{
    int exit_code = ev->exit_code, status = ev->status;
    oc_error *err = NULL;
    napi_status st;

    pthread_mutex_lock(&s->lock);
    while (!s->opened)
        pthread_cond_wait(&s->cond, &s->lock);
    void *h = s->h;
    pthread_mutex_unlock(&s->lock);
    if (h)
        status = s->ops->wait(h, -1, &exit_code, &err);
    s->ended = true;
    release_tsfn(s);
    free_handle_if_done(s);

    const char *msg = err ? oc_error_message(err) : NULL;
    if ((st = napi_create_int32(env, status, &argv[1])) == napi_ok &&
        (st = napi_create_int32(env, status < 0 ? -1 : exit_code, &argv[2])) == napi_ok)
        st = msg ? napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &argv[3])
                 : napi_get_null(env, &argv[3]);
    oc_error_free(err);
    return st;
}

static void call_js(napi_env env, napi_value dispatch, void *context, void *data)
{
    stream *s = context;
    event *ev = data;
    napi_value argv[4], undefined;
    size_t argc = 1;
    napi_status st;

    if (!env) { /* the queue is being emptied at teardown */
        free(ev);
        return;
    }
    st = napi_create_int32(env, ev->kind, &argv[0]);
    if (ev->kind == STREAM_END) {
        if (end_args(env, s, ev, argv) == napi_ok)
            argc = 4;
    } else if (ev->kind == STREAM_GAP && st == napi_ok) {
        /* a double is exact up to 2^53 bytes */
        if ((st = napi_create_int32(env, ev->status, &argv[1])) == napi_ok)
            st = napi_create_double(env, (double)ev->bytes, &argv[2]);
        argc = 3;
    } else if (ev->kind == STREAM_EVENT && st == napi_ok) {
        st = napi_create_string_utf8(env, ev->data, ev->len, &argv[1]);
        argc = 2;
    } else if (ev->kind != STREAM_REPLAY_END && st == napi_ok) {
        st = napi_create_buffer_copy(env, ev->len, ev->data, NULL, &argv[1]);
        argc = 2;
    }
    free(ev);
    /* an exception a callback throws stays pending: Node reports it as
     * uncaught, as for any event callback */
    if (st == napi_ok && napi_get_undefined(env, &undefined) == napi_ok)
        napi_call_function(env, undefined, dispatch, argc, argv, NULL);
}

static void tsfn_finalize(napi_env env, void *data, void *hint)
{
    stream *s = data;

    s->has_tsfn = false;
    if (!s->ended) {
        /* the environment is going away with the handle attached: a job
         * blocked on it (a write) returns once it is detached; a kind
         * without detach is freed below, its thread's pushes failing now
         * that the queue is closing */
        stream_detach(s);
        s->ended = true;
        free_handle_if_done(s);
    }
    free_if_unused(s);
}

napi_status stream_new(napi_env env, napi_value dispatch, const stream_ops *ops, stream **out)
{
    napi_value name;
    napi_valuetype t;
    napi_status st;

    if ((st = napi_typeof(env, dispatch, &t)) != napi_ok)
        return st;
    if (t != napi_function)
        return throw_type(env, "expected a function");
    stream *s = calloc(1, sizeof(*s));
    if (!s)
        return napi_generic_failure;
    s->ops = ops;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if ((st = napi_create_string_utf8(env, "opencomputer.stream", NAPI_AUTO_LENGTH, &name)) !=
            napi_ok ||
        (st = napi_create_threadsafe_function(env, dispatch, NULL, name, QUEUE_MAX, 1, s,
                                              tsfn_finalize, s, call_js, &s->tsfn)) != napi_ok) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
        return st;
    }
    s->has_tsfn = true;
    s->jobs = 1;
    *out = s;
    return napi_ok;
}

static void js_finalize(napi_env env, void *data, void *hint)
{
    stream *s = data;
    s->has_js = false;
    free_if_unused(s);
}

napi_status stream_value(napi_env env, stream *s, napi_value *out)
{
    s->has_js = true;
    return tagged_value(env, s, js_finalize, &stream_tag, out);
}

napi_status get_stream(napi_env env, napi_value v, stream **out)
{
    napi_status st = get_tagged(env, v, &stream_tag, "a session handle", (void **)out);
    if (st == napi_ok)
        (*out)->jobs++;
    return st;
}
