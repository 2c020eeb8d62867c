/* template.c: templates (list, get, delete, prune) for the Node binding
 * (see template.h).  index.mjs shapes the results. */
#include "template.h"
#include "convert.h"

static napi_status step_item(napi_env env, const void *steps, size_t i, napi_value *out)
{
    const char *const *s = steps;
    return napi_create_string_utf8(env, s[i], NAPI_AUTO_LENGTH, out);
}

/* A NULL-terminated string array as a JS array (NULL: empty). */
static napi_status strv_value(napi_env env, const char *const *v, napi_value *out)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return array_value(env, v, n, step_item, out);
}

/* Plain fields; index.mjs turns the time into a Date. */
static napi_status template_value(napi_env env, const oc_template_info *t, napi_value *out)
{
    const char *const *agent = oc_template_info_agent(t);
    napi_value v, env_v, agent_v;
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_str(env, *out, "name", oc_template_info_name(t))) != napi_ok ||
        (s = set_str(env, *out, "parent", oc_template_info_parent(t))) != napi_ok ||
        (s = set_num(env, *out, "created", (double)oc_template_info_created_at(t))) != napi_ok ||
        (s = set_num(env, *out, "sizeBytes", (double)oc_template_info_size_bytes(t))) != napi_ok ||
        (s = set_num(env, *out, "diskBytes", (double)oc_template_info_disk_bytes(t))) != napi_ok ||
        (s = set_str(env, *out, "importedFrom", oc_template_info_imported_from(t))) != napi_ok ||
        (s = set_str(env, *out, "workdir", oc_template_info_workdir(t))) != napi_ok ||
        (s = set_str(env, *out, "user", oc_template_info_user(t))) != napi_ok ||
        (s = strv_value(env, oc_template_info_steps(t), &v)) != napi_ok ||
        (s = set_value(env, *out, "steps", v)) != napi_ok ||
        (s = strv_value(env, oc_template_info_env(t), &env_v)) != napi_ok ||
        (s = set_value(env, *out, "env", env_v)) != napi_ok)
        return s;
    if (!agent)
        return napi_get_null(env, &agent_v) == napi_ok ? set_value(env, *out, "agent", agent_v)
                                                      : napi_generic_failure;
    if ((s = strv_value(env, agent, &agent_v)) != napi_ok)
        return s;
    return set_value(env, *out, "agent", agent_v);
}

static int run_get(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_template_get(&j->tmpl, j->ctx, j->str1, error);
}

static int run_list(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_template_list_get(&j->tmpls, j->ctx, 0, error);
}

static int run_delete(job *j, oc_error **error)
{
    int rc = job_context(j, error);
    return rc < 0 ? rc : oc_template_delete(j->ctx, j->str1, 0, error);
}

/* prune(keepDays): nullish for the library's default */
static int run_prune(job *j, oc_error **error)
{
    oc_template_prune_options o = OC_TEMPLATE_PRUNE_OPTIONS_INIT;
    int rc = job_context(j, error);

    if (rc < 0)
        return rc;
    if (j->has_num)
        o.keep_days = u32_arg(j->num);
    return oc_template_prune(j->ctx, &o, &j->out_u32[0], &j->out_u64, &j->out_u32[1], error);
}

static napi_status done_prune(napi_env env, job *j, napi_value *out)
{
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_num(env, *out, "removed", j->out_u32[0])) != napi_ok ||
        (s = set_num(env, *out, "bytesFreed", (double)j->out_u64)) != napi_ok)
        return s;
    return set_num(env, *out, "kept", j->out_u32[1]);
}

napi_status done_template(napi_env env, job *j, napi_value *out)
{
    return template_value(env, j->tmpl, out);
}

static napi_status template_item(napi_env env, const void *list, size_t i, napi_value *out)
{
    return template_value(env, oc_template_list_at(list, i), out);
}

static napi_status done_templates(napi_env env, job *j, napi_value *out)
{
    return array_value(env, j->tmpls, oc_template_list_count(j->tmpls), template_item, out);
}

const export_spec template_exports[] = {
    { "templateGet", run_get, done_template, { ARG_STRING } },
    { "templateList", run_list, done_templates, { ARG_END } },
    { "templateDelete", run_delete, NULL, { ARG_STRING } },
    { "templatePrune", run_prune, done_prune, { ARG_OPT_INT } },
};

const size_t template_exports_count = sizeof(template_exports) / sizeof(template_exports[0]);
