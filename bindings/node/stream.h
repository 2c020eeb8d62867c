/* stream.h: followed sessions for oc_native.c and agent.c: exec and PTY
 * handles (oc_exec_handle) and agent sessions (oc_agent_session), whose
 * callbacks reach JS through a thread-safe function.
 *
 * A stream is created on the main thread with the JS function that gets its
 * events, dispatch(kind, ...):
 *   dispatch(STREAM_STDOUT, Buffer), dispatch(STREAM_STDERR, Buffer),
 *   dispatch(STREAM_REPLAY_END),
 *   dispatch(STREAM_GAP, stream (1 or 2), skipped bytes) (just before the
 *     output that follows the gap),
 *   dispatch(STREAM_EVENT, json) (an agent session's event line, a string),
 *   dispatch(STREAM_END, status, exitCode, message) (always the last).
 * A worker thread opens its handle (spawn, attach or pty) with
 * stream_callbacks() and gives it to stream_opened().  While the handle is
 * attached the thread-safe function keeps the event loop alive; once the
 * end is delivered it is released, and the handle is freed as soon as no
 * job uses it. */
#ifndef OC_NODE_STREAM_H
#define OC_NODE_STREAM_H

#include <node_api.h>
#include <opencomputer.h>

enum {
    STREAM_STDOUT = 1, STREAM_STDERR = 2, STREAM_REPLAY_END = 3, STREAM_END = 4, STREAM_GAP = 5,
    STREAM_EVENT = 6
};

typedef struct stream stream;

/* What a stream does with its kind of library handle. */
typedef struct {
    /* oc_exec_wait()'s shape: the end once it has come */
    int (*wait)(void *h, int64_t timeout_ms, int *exit_code, oc_error **error);
    /* Main thread: stops following without blocking; NULL when the kind
     * has none (its handle is then closed by stream_close() on a worker) */
    void (*detach)(void *h);
    /* Frees the handle; joins its thread, so never while that thread
     * waits for the main thread (stream_close() says when it is safe) */
    void (*free)(void *h);
} stream_ops;

extern const stream_ops stream_exec_ops, stream_agent_ops;

/* Main thread.  *out holds one reference, for the job that opens it. */
napi_status stream_new(napi_env env, napi_value dispatch, const stream_ops *ops, stream **out);
/* Any thread: the callbacks to open the handle with. */
oc_exec_callbacks stream_callbacks(stream *s);
oc_agent_callbacks stream_agent_callbacks(stream *s);
/* The opening job's worker thread, once the open call returned (h NULL if
 * it failed). */
void stream_opened(stream *s, void *h);

/* Main thread: a JS handle (a tagged external) that holds a reference. */
napi_status stream_value(napi_env env, stream *s, napi_value *out);
/* Main thread: a new reference on the stream of a handle, for a job. */
napi_status get_stream(napi_env env, napi_value v, stream **out);
/* Main thread: drops a job's reference. */
void stream_unref(stream *s);

/* Any thread: the handle, or NULL if it had ended and been freed before
 * the caller's job took its reference (it is not freed while a job holds
 * one, except by that job's own stream_close()). */
void *stream_handle(stream *s);
/* Main thread: stops following (ops->detach); a no-op once ended. */
void stream_detach(stream *s);
/* A worker thread, in a job that holds a reference: stops following by
 * freeing the handle now (the main thread stays free to drain the queue
 * that the handle's thread may be blocked on), then queues the end,
 * OC_ECANCELLED, unless the handle's own end was already queued.  The
 * caller orders it after the stream's other jobs. */
void stream_close(stream *s);

#endif
