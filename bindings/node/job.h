/* job.h: the async machinery of the Node binding, shared by oc_native.c,
 * checkpoint.c, template.c, agent.c and build.c.
 *
 * Each export copies its JS arguments into a plain C job, runs the blocking
 * C call on libuv's thread pool (napi_async_work) and settles a Promise with
 * the converted result on the main thread.  Most exports are rows of a
 * table (export_spec): their arguments, in order, and the job functions. */
#ifndef OC_NODE_JOB_H
#define OC_NODE_JOB_H

#include "shell.h"
#include "stream.h"

#include <node_api.h>
#include <opencomputer.h>

#include <stdbool.h>

typedef struct job job;
/* An egress policy copied from JS (network.h); given is false when the
 * object was nullish. */
typedef struct {
    bool given;
    char **allow_out, **deny_out;
    bool block_all;
} job_network;

typedef int (*job_run_fn)(job *j, oc_error **error);
typedef napi_status (*job_done_fn)(napi_env env, job *j, napi_value *result);

/* Inputs (copied from JS on the main thread) and outputs (owned until the
 * complete callback converts them, freed by the job otherwise) of every
 * kind of call; each call uses a few of them. */
struct job {
    napi_async_work work;
    napi_deferred deferred;
    job_run_fn run;
    job_done_fn done;
    oc_context *ctx; /* a reference, from job_context() */
    oc_sandbox *sb;
    stream *st;
    shell_box *shb;
    int rc;
    oc_error *error;
    const char *message; /* the binding's own, when error is NULL */

    char *str1, *str2;
    char **strv1, **strv2;
    int64_t num, num2;
    uint32_t flags;
    void *data;
    size_t len;
    bool has_num, has_num2;
    bool has_cpu_count, has_memory_mb;
    uint32_t cpu_count, memory_mb;
    job_network net;

    uint32_t session; /* an id, in or out */
    bool is_pty;      /* out, with a session handle */

    oc_sandbox *out_sb;
    oc_sandbox **out_sbv; /* out_n handles, from oc_sandbox_fork() */
    size_t out_n;
    int out_int;
    char *out_str; /* the library's; oc_free() */
    uint32_t out_u32[2];
    uint64_t out_u64;
    oc_exec_result *result;
    oc_sandbox_info *info;
    oc_sandbox_list *list;
    oc_file_info *file;
    oc_file_list *files;
    oc_exec_session_list *sessions;
    oc_shell *shell;
    oc_checkpoint *checkpoint;
    oc_checkpoint_list *checkpoints;
    oc_template_info *tmpl;
    oc_template_list *tmpls;

    /* inputs of a call with many (agent.c, build.c), freed by free_extra */
    void *extra;
    void (*free_extra)(void *extra);
};

job *job_new(napi_env env, job_run_fn run, job_done_fn done);
/* The start of an export that takes many inputs: its n arguments into
 * argv, and a job with a zeroed j->extra of size bytes, freed with
 * free_extra.  NULL with an exception pending on failure. */
job *job_new_extra(napi_env env, napi_callback_info info, size_t n, napi_value *argv,
                   job_run_fn run, job_done_fn done, size_t size,
                   void (*free_extra)(void *extra));
/* Queues j and returns its Promise; on failure (prep is not napi_ok, or
 * queueing failed) frees j and leaves an exception pending: the export then
 * returns NULL, i.e. throws. */
napi_value job_start(napi_env env, job *j, napi_status prep);

/* A worker thread: j->ctx, a reference on the process's context (see
 * context.h), opened on first use. */
int job_context(job *j, oc_error **error);

/* Results several exports share (oc_native.c): a sandbox handle that takes
 * j->out_sb, and j->out_int as a boolean. */
napi_status done_sandbox(napi_env env, job *j, napi_value *out);
napi_status done_bool(napi_env env, job *j, napi_value *out);
/* {handle, isPty, sessionId} of j->st, opened as j->session */
napi_status done_stream(napi_env env, job *j, napi_value *out);
/* An Array of j->sessions */
napi_status done_sessions(napi_env env, job *j, napi_value *out);
/* A worker thread: the library handle of j->st, or NULL (with j->message
 * set; the job then fails with OC_ESTATE) once it has ended or closed. */
void *job_handle(job *j);

/* Out of range values reach the C library, which says what is wrong. */
uint32_t u32_arg(int64_t n);
int int_arg(int64_t n);

/* ---- table exports ----
 *
 * Strings fill str1 then str2, vectors strv1 then strv2, optional integers
 * num then num2, in the order they come. */

typedef enum {
    ARG_END,
    ARG_SANDBOX,   /* a handle */
    ARG_STRING,
    ARG_OPT_STRING,
    ARG_ARRAY,     /* of strings, or nullish */
    ARG_PAIRS,     /* an object of "KEY=VALUE", or nullish */
    ARG_OPT_INT,
    ARG_SECONDS,   /* a required 0..UINT32_MAX */
    ARG_BYTES,
    ARG_OPT_BYTES,
    ARG_RECURSIVE, /* a nullish or boolean OC_FILES_RECURSIVE */
    ARG_SESSION,   /* a session id */
    ARG_STREAM,    /* a session handle */
    ARG_DISPATCH,  /* the function a new session's events go to */
    ARG_AGENT_DISPATCH, /* the same, for an agent session */
    ARG_SHELL,     /* a shell handle */
    ARG_NETWORK,   /* an egress policy object, or nullish (network.h) */
} arg_kind;

#define MAX_ARGS 7

typedef struct {
    const char *name;
    job_run_fn run;
    job_done_fn done;
    arg_kind args[MAX_ARGS];
} export_spec;

/* Defines exports[spec.name] for each of the n rows of table. */
napi_status define_exports(napi_env env, napi_value exports, const export_spec *table, size_t n);

#endif
