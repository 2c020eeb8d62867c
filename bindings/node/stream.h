/* stream.h: attach handles (oc_exec_handle) for oc_native.c: their
 * callbacks reach JS through a thread-safe function.
 *
 * A stream is created on the main thread with the JS function that gets its
 * events, dispatch(kind, ...):
 *   dispatch(STREAM_STDOUT, Buffer), dispatch(STREAM_STDERR, Buffer),
 *   dispatch(STREAM_REPLAY_END),
 *   dispatch(STREAM_GAP, stream (1 or 2), skipped bytes) (just before the
 *     output that follows the gap),
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
    STREAM_STDOUT = 1, STREAM_STDERR = 2, STREAM_REPLAY_END = 3, STREAM_END = 4, STREAM_GAP = 5
};

typedef struct stream stream;

/* Main thread.  *out holds one reference, for the job that opens it. */
napi_status stream_new(napi_env env, napi_value dispatch, stream **out);
/* Any thread: the callbacks to open the handle with. */
oc_exec_callbacks stream_callbacks(stream *s);
/* The opening job's worker thread, once the open call returned (h NULL if
 * it failed). */
void stream_opened(stream *s, oc_exec_handle *h);

/* Main thread: a JS handle (a tagged external) that holds a reference. */
napi_status stream_value(napi_env env, stream *s, napi_value *out);
/* Main thread: a new reference on the stream of a handle, for a job. */
napi_status get_stream(napi_env env, napi_value v, stream **out);
/* Main thread: drops a job's reference. */
void stream_unref(stream *s);

/* Any thread: the handle, or NULL if it had ended and been freed before
 * the caller's job took its reference (it is not freed while a job holds
 * one). */
oc_exec_handle *stream_handle(stream *s);
/* Main thread: stops following (oc_exec_detach); a no-op once ended. */
void stream_detach(stream *s);

#endif
