/* network.c: egress policies for the Node binding (see network.h).  The
 * entries go to the C library as they are: it checks them and names a bad
 * one in its error. */
#include "network.h"
#include "convert.h"
#include "job.h"


napi_status get_network(napi_env env, napi_value v, job_network *out)
{
    napi_valuetype type;
    napi_value field;
    napi_status s;

    if (is_nullish(env, v))
        return napi_ok;
    if ((s = napi_typeof(env, v, &type)) != napi_ok)
        return s;
    if (type != napi_object)
        return throw_type(env, "network must be an object {allowOut, denyOut, blockAll}");
    out->given = true;
    if ((s = get_field(env, v, "allowOut", &field)) != napi_ok ||
        (s = get_strv(env, field, false, &out->allow_out)) != napi_ok ||
        (s = get_field(env, v, "denyOut", &field)) != napi_ok ||
        (s = get_strv(env, field, false, &out->deny_out)) != napi_ok ||
        (s = get_field(env, v, "blockAll", &field)) != napi_ok)
        return s;
    return get_opt_bool(env, field, &out->block_all);
}

void job_network_clear(job_network *net)
{
    strv_free(net->allow_out);
    strv_free(net->deny_out);
    *net = (job_network){ 0 };
}

const oc_network_policy *network_policy(const job_network *net, oc_network_policy *policy)
{
    if (!net->given)
        return NULL;
    *policy = (oc_network_policy)OC_NETWORK_POLICY_INIT;
    policy->allow_out = (const char *const *)net->allow_out;
    policy->deny_out = (const char *const *)net->deny_out;
    policy->block_all = net->block_all;
    return policy;
}

static int run_set_network(job *j, oc_error **error)
{
    oc_network_policy policy;
    return oc_sandbox_set_network(j->sb, network_policy(&j->net, &policy), 0, error);
}

/* (handle, policy or nullish for none) */
const export_spec network_exports[] = {
    { "setNetwork", run_set_network, NULL, { ARG_SANDBOX, ARG_NETWORK } },
};

const size_t network_exports_count = sizeof(network_exports) / sizeof(network_exports[0]);

typedef size_t (*count_fn)(const oc_sandbox_info *info);
typedef const char *(*at_fn)(const oc_sandbox_info *info, size_t i);

static napi_status set_entries(napi_env env, napi_value obj, const char *key,
                               const oc_sandbox_info *info, count_fn count, at_fn at)
{
    size_t n = count(info);
    napi_value arr, item;
    napi_status s = napi_create_array_with_length(env, n, &arr);

    for (size_t i = 0; s == napi_ok && i < n; i++)
        if ((s = napi_create_string_utf8(env, at(info, i), NAPI_AUTO_LENGTH, &item)) == napi_ok)
            s = napi_set_element(env, arr, (uint32_t)i, item);
    return s == napi_ok ? set_value(env, obj, key, arr) : s;
}

napi_status set_network_value(napi_env env, napi_value obj, const oc_sandbox_info *info)
{
    napi_value net;
    napi_status s;

    if ((s = napi_create_object(env, &net)) != napi_ok ||
        (s = set_entries(env, net, "allowOut", info, oc_sandbox_info_allow_out_count,
                         oc_sandbox_info_allow_out_at)) != napi_ok ||
        (s = set_entries(env, net, "denyOut", info, oc_sandbox_info_deny_out_count,
                         oc_sandbox_info_deny_out_at)) != napi_ok ||
        (s = set_bool(env, net, "blockAll", oc_sandbox_info_block_all(info) != 0)) != napi_ok)
        return s;
    return set_value(env, obj, "network", net);
}
