/* checkpoint.c: checkpoints, forks, template snapshots and the warm pool,
 * for the Node binding (see checkpoint.h).  index.mjs shapes the results. */
#include "checkpoint.h"
#include "convert.h"
#include "network.h"

/* ---- checkpoints ---- */

static int run_create(job *j, oc_error **error)
{
    return oc_checkpoint_create(&j->checkpoint, j->sb, j->str1, 0, error);
}

static int run_get(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_checkpoint_get(&j->checkpoint, j->ctx, j->str1, error);
}

static int run_list(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_checkpoint_list_get(&j->checkpoints, j->ctx, j->str1, 0, error);
}

static int run_delete(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_checkpoint_delete(j->ctx, j->str1, 0, error);
}

static int run_restore(job *j, oc_error **error)
{
    return oc_sandbox_restore_checkpoint(j->sb, j->str1, 0, error);
}

static napi_status done_checkpoint(napi_env env, job *j, napi_value *out)
{
    return checkpoint_value(env, j->checkpoint, out);
}

static napi_status checkpoint_item(napi_env env, const void *list, size_t i, napi_value *out)
{
    return checkpoint_value(env, oc_checkpoint_list_at(list, i), out);
}

static napi_status done_checkpoints(napi_env env, job *j, napi_value *out)
{
    return array_value(env, j->checkpoints, oc_checkpoint_list_count(j->checkpoints),
                       checkpoint_item, out);
}

/* ---- forks ---- */

/* From (checkpoint id, timeout, envs, metadata, count, network); policy
 * holds the network the options point to. */
static oc_fork_options fork_options(const job *j, oc_network_policy *policy)
{
    oc_fork_options opts = OC_FORK_OPTIONS_INIT;

    if (j->has_num)
        opts.timeout_s = j->num;
    opts.envs = (const char *const *)j->strv1;
    opts.metadata = (const char *const *)j->strv2;
    if (j->has_num2)
        opts.count = u32_arg(j->num2);
    opts.network = network_policy(&j->net, policy);
    return opts;
}

static int run_from_checkpoint(job *j, oc_error **error)
{
    oc_network_policy policy;
    oc_fork_options opts = fork_options(j, &policy);
    int rc = job_context(j, error);

    return rc < 0 ? rc
                  : oc_sandbox_create_from_checkpoint(&j->out_sb, j->ctx, j->str1, &opts, error);
}

static int run_fork(job *j, oc_error **error)
{
    oc_network_policy policy;
    oc_fork_options opts = fork_options(j, &policy);
    int rc = job_context(j, error);

    if (rc < 0 || (rc = oc_sandbox_fork(&j->out_sbv, j->ctx, j->str1, &opts, error)) < 0)
        return rc;
    j->out_n = opts.count ? opts.count : 1;
    return rc;
}

static napi_status done_sandboxes(napi_env env, job *j, napi_value *out)
{
    napi_status s = napi_create_array_with_length(env, j->out_n, out);

    for (size_t i = 0; s == napi_ok && i < j->out_n; i++) {
        napi_value v;
        s = sandbox_value(env, j->out_sbv[i], &v);
        j->out_sbv[i] = NULL; /* the handle's, even on failure; the job unrefs the rest */
        if (s == napi_ok)
            s = napi_set_element(env, *out, (uint32_t)i, v);
    }
    return s;
}

/* ---- template snapshots and the warm pool ---- */

static int run_prepare(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_template_prepare(j->ctx, j->str1, 0, &j->out_int, error);
}

static int run_snapshot_ready(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_template_snapshot_ready(j->ctx, j->str1, &j->out_int, error);
}

static int run_pool_status(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc
                  : oc_pool_status(j->ctx, j->str1, &j->out_u32[0], &j->out_u32[1], error);
}

static napi_status done_pool_status(napi_env env, job *j, napi_value *out)
{
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_num(env, *out, "ready", j->out_u32[0])) != napi_ok)
        return s;
    return set_num(env, *out, "target", j->out_u32[1]);
}

/* ---- the exports ---- */

#define FORK_ARGS { ARG_STRING, ARG_OPT_INT, ARG_PAIRS, ARG_PAIRS, ARG_OPT_INT, ARG_NETWORK }

const export_spec checkpoint_exports[] = {
    { "checkpointCreate", run_create, done_checkpoint, { ARG_SANDBOX, ARG_STRING } },
    { "checkpointGet", run_get, done_checkpoint, { ARG_STRING } },
    /* (sandbox id, or nullish for all) */
    { "checkpointList", run_list, done_checkpoints, { ARG_OPT_STRING } },
    { "checkpointDelete", run_delete, NULL, { ARG_STRING } },
    { "checkpointRestore", run_restore, NULL, { ARG_SANDBOX, ARG_STRING } },
    /* (checkpoint id, timeout, envs, metadata, count, network): one sandbox, or an
     * Array of count */
    { "createFromCheckpoint", run_from_checkpoint, done_sandbox, FORK_ARGS },
    { "fork", run_fork, done_sandboxes, FORK_ARGS },
    { "templatePrepare", run_prepare, done_bool, { ARG_STRING } },
    { "templateSnapshotReady", run_snapshot_ready, done_bool, { ARG_STRING } },
    { "poolStatus", run_pool_status, done_pool_status, { ARG_STRING } },
};

const size_t checkpoint_exports_count = sizeof(checkpoint_exports) / sizeof(checkpoint_exports[0]);
