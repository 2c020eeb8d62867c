/* agent.c: agent sessions for the Node binding (see agent.h).
 *
 * A session is a stream (stream.c) over an oc_agent_session, so it follows
 * exactly as exec sessions do: events in order on the main thread, the
 * thread-safe function keeping the loop alive while attached.  Its
 * commands are jobs on the stream, which agent.mjs queues in order. */
#include "agent.h"
#include "convert.h"
#include "job.h"

#include <stdlib.h>

/* The options of agentStart, copied from JS. */
typedef struct {
    char *program, *prompt, *model, *system_prompt, *cwd, *config_json;
    char **args, **envs;
    int64_t max_turns;
    bool has_max_turns;
} start_args;

static void start_args_free(void *p)
{
    start_args *a = p;

    if (!a)
        return;
    free(a->program);
    free(a->prompt);
    free(a->model);
    free(a->system_prompt);
    free(a->cwd);
    free(a->config_json);
    strv_free(a->args);
    strv_free(a->envs);
    free(a);
}

/* After a call that opened *h (or failed): the stream takes it. */
static int opened(job *j, int rc, oc_agent_session *const *h)
{
    stream_opened(j->st, rc == OC_OK ? *h : NULL);
    if (rc == OC_OK)
        j->session = oc_agent_session_id(*h);
    return rc;
}

static int run_start(job *j, oc_error **error)
{
    const start_args *a = j->extra;
    oc_agent_options o = OC_AGENT_OPTIONS_INIT;
    oc_agent_callbacks cb = stream_agent_callbacks(j->st);
    oc_agent_session *h = NULL;

    o.program = a->program;
    o.args = (const char *const *)a->args;
    o.prompt = a->prompt;
    o.model = a->model;
    o.system_prompt = a->system_prompt;
    /* out of range reaches the library as UINT32_MAX, which the program
     * is told; 0 is unset */
    o.max_turns = a->has_max_turns ? u32_arg(a->max_turns) : 0;
    o.cwd = a->cwd;
    o.config_json = a->config_json;
    o.envs = (const char *const *)a->envs;
    return opened(j, oc_agent_start(&h, j->sb, &o, &cb, error), &h);
}

/* agentStart(sandbox, {program, args, envs, prompt, model, systemPrompt,
 * maxTurns, cwd, configJson}, dispatch) */
static napi_value js_start(napi_env env, napi_callback_info info)
{
    napi_value argv[3], v;
    napi_status s;
    start_args *a;
    job *j;

    if (!(j = job_new_extra(env, info, 3, argv, run_start, done_stream, sizeof(*a),
                            start_args_free)))
        return NULL;
    a = j->extra;

    const string_field strings[] = {
        { "program", &a->program }, { "prompt", &a->prompt }, { "model", &a->model },
        { "systemPrompt", &a->system_prompt }, { "cwd", &a->cwd },
        { "configJson", &a->config_json },
    };
    const int_field ints[] = { { "maxTurns", &a->max_turns, &a->has_max_turns } };
    if ((s = get_sandbox(env, argv[0], &j->sb)) == napi_ok &&
        (s = get_string_fields(env, argv[1], strings, sizeof(strings) / sizeof(strings[0]))) ==
            napi_ok &&
        (s = get_int_fields(env, argv[1], ints, 1)) == napi_ok &&
        (s = get_field(env, argv[1], "args", &v)) == napi_ok &&
        (s = get_strv(env, v, false, &a->args)) == napi_ok &&
        (s = get_field(env, argv[1], "envs", &v)) == napi_ok)
        s = get_strv(env, v, true, &a->envs);
    if (s == napi_ok)
        s = stream_new(env, argv[2], &stream_agent_ops, &j->st);
    return job_start(env, j, s);
}

static int run_attach(job *j, oc_error **error)
{
    oc_agent_callbacks cb = stream_agent_callbacks(j->st);
    oc_agent_session *h = NULL;

    return opened(j, oc_agent_attach(&h, j->sb, j->session, &cb, error), &h);
}

static int run_send_prompt(job *j, oc_error **error)
{
    oc_agent_session *h = job_handle(j);
    return h ? oc_agent_send_prompt(h, j->str1, error) : OC_ESTATE;
}

static int run_interrupt(job *j, oc_error **error)
{
    oc_agent_session *h = job_handle(j);
    return h ? oc_agent_interrupt(h, error) : OC_ESTATE;
}

static int run_configure(job *j, oc_error **error)
{
    oc_agent_session *h = job_handle(j);
    return h ? oc_agent_configure(h, j->str1, error) : OC_ESTATE;
}

/* On a worker: oc_agent_close() joins the handle's thread, which may be
 * waiting for the main thread to take its events. */
static int run_close(job *j, oc_error **error)
{
    stream_close(j->st);
    return OC_OK;
}

static int run_kill(job *j, oc_error **error)
{
    return oc_agent_kill(j->sb, j->session, j->has_num ? int_arg(j->num) : 0, error);
}

static int run_list(job *j, oc_error **error)
{
    return oc_agent_list(&j->sessions, j->sb, 0, error);
}

static const export_spec agent_exports[] = {
    { "agentAttach", run_attach, done_stream, { ARG_SANDBOX, ARG_SESSION, ARG_AGENT_DISPATCH } },
    { "agentSendPrompt", run_send_prompt, NULL, { ARG_STREAM, ARG_STRING } },
    { "agentInterrupt", run_interrupt, NULL, { ARG_STREAM } },
    /* (session handle, settings as a JSON object's text) */
    { "agentConfigure", run_configure, NULL, { ARG_STREAM, ARG_STRING } },
    { "agentClose", run_close, NULL, { ARG_STREAM } },
    /* (sandbox handle, session id, signal or nullish for SIGKILL) */
    { "agentKill", run_kill, NULL, { ARG_SANDBOX, ARG_SESSION, ARG_OPT_INT } },
    { "agentList", run_list, done_sessions, { ARG_SANDBOX } },
};

napi_status agent_define(napi_env env, napi_value exports)
{
    napi_property_descriptor start = { "agentStart", NULL, js_start, NULL, NULL, NULL,
                                       napi_enumerable, NULL };
    napi_status s = napi_define_properties(env, exports, 1, &start);

    return s == napi_ok ? define_exports(env, exports, agent_exports,
                                         sizeof(agent_exports) / sizeof(agent_exports[0]))
                        : s;
}
