/* oc-network.c: public entry points of sandbox networking: the egress
 * policy (docs/network.md). */
#include "core/network.h"
#include "core/sandbox.h"
#include "oc-private.h"
#include "util/error.h"

OC_API int oc_network_policy_init(oc_network_policy *policy, uint32_t version)
{
    if (!policy || version != OC_NETWORK_POLICY_VERSION)
        return OC_EINVAL;
    *policy = (oc_network_policy)OC_NETWORK_POLICY_INIT;
    return OC_OK;
}

gboolean oc_network_policy_take(const oc_network_policy *in, NetPolicy **out, const char *func,
                                GError **error)
{
    *out = NULL;
    if (!in)
        return TRUE;
    if (in->version < 1 || in->version > OC_NETWORK_POLICY_VERSION) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s: oc_network_policy version %u is not "
                    "supported; use OC_NETWORK_POLICY_INIT", func, in->version);
        return FALSE;
    }
    *out = net_policy_new();
    (*out)->allow_out = g_strdupv((char **)in->allow_out);
    (*out)->deny_out = g_strdupv((char **)in->deny_out);
    (*out)->block_all = in->block_all != 0;
    return TRUE;
}

OC_API int oc_sandbox_set_network(oc_sandbox *sb, const oc_network_policy *policy, uint32_t flags,
                                  oc_error **error)
{
    g_autoptr(NetPolicy) p = NULL;
    GError *err = NULL;

    CHECK_ARG(sb, "oc_sandbox_set_network: sb must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_set_network", &err) ||
        !oc_network_policy_take(policy, &p, "oc_sandbox_set_network", &err) ||
        !core_sandbox_check_alive(sb, &err) || !core_sandbox_set_network(sb, p, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

static const NetPolicy *info_policy(const oc_sandbox_info *i)
{
    return i ? i->record->network : NULL;
}

static size_t strv_count(char **v)
{
    return v ? g_strv_length(v) : 0;
}

OC_API int oc_sandbox_info_block_all(const oc_sandbox_info *i)
{
    return info_policy(i) ? info_policy(i)->block_all : 0;
}

OC_API size_t oc_sandbox_info_allow_out_count(const oc_sandbox_info *i)
{
    return info_policy(i) ? strv_count(info_policy(i)->allow_out) : 0;
}

OC_API const char *oc_sandbox_info_allow_out_at(const oc_sandbox_info *i, size_t n)
{
    return n < oc_sandbox_info_allow_out_count(i) ? info_policy(i)->allow_out[n] : NULL;
}

OC_API size_t oc_sandbox_info_deny_out_count(const oc_sandbox_info *i)
{
    return info_policy(i) ? strv_count(info_policy(i)->deny_out) : 0;
}

OC_API const char *oc_sandbox_info_deny_out_at(const oc_sandbox_info *i, size_t n)
{
    return n < oc_sandbox_info_deny_out_count(i) ? info_policy(i)->deny_out[n] : NULL;
}
