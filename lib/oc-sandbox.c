/* oc-sandbox.c: public entry points of sandboxes: lifecycle and info. */
#include <stddef.h>
#include <string.h>

#include "core/ports.h"
#include "core/power.h"
#include "core/sandbox.h"
#include "oc-private.h"
#include "util/error.h"

OC_API const char *oc_sandbox_state_name(int state)
{
    switch (state) {
    case OC_STATE_RUNNING: return "running";
    case OC_STATE_HIBERNATED: return "hibernated";
    case OC_STATE_STOPPED: return "stopped";
    case OC_STATE_ERROR: return "error";
    default: return "unknown";
    }
}

/* How much of the struct each version has: a program built against an
 * older header passes a smaller struct, and only that much may be written
 * or read. */
static size_t sandbox_options_size(uint32_t version)
{
    switch (version) {
    case 1: return offsetof(oc_sandbox_options, network);
    case 2: return sizeof(oc_sandbox_options);
    default: return 0;
    }
}

OC_API int oc_sandbox_options_init(oc_sandbox_options *opts, uint32_t version)
{
    oc_sandbox_options defaults = OC_SANDBOX_OPTIONS_INIT;
    size_t size = sandbox_options_size(version);

    if (!opts || !size)
        return OC_EINVAL;
    defaults.version = version;
    memcpy(opts, &defaults, size);
    return OC_OK;
}

OC_API int oc_sandbox_create(oc_sandbox **out, oc_context *ctx, const oc_sandbox_options *opts,
                             oc_error **error)
{
    static const oc_sandbox_options defaults = OC_SANDBOX_OPTIONS_INIT;
    g_autoptr(NetPolicy) network = NULL;
    GError *err = NULL;
    CoreCreateSpec spec;
    oc_sandbox *sb;

    CHECK_ARG(out && ctx, "oc_sandbox_create: out and ctx must not be NULL");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_SANDBOX_OPTIONS_VERSION,
              "oc_sandbox_options version %u is not supported; use OC_SANDBOX_OPTIONS_INIT",
              opts->version);
    if (opts->version >= 2 &&
        !oc_network_policy_take(opts->network, &network, "oc_sandbox_create", &err))
        return oc_error_propagate(error, err);
    spec = (CoreCreateSpec){
        .template_name = opts->template_name ? opts->template_name : "base",
        .timeout_s = opts->timeout_s == OC_TIMEOUT_DEFAULT ? OC_DEFAULT_IDLE_TIMEOUT_S : opts->timeout_s,
        .cpu_count = opts->cpu_count,
        .memory_mb = opts->memory_mb,
        .envs = opts->envs,
        .metadata = opts->metadata,
        .network = network,
    };
    sb = core_sandbox_create(ctx, &spec, &err);
    if (!sb)
        return oc_error_propagate(error, err);
    *out = sb;
    return OC_OK;
}

OC_API int oc_sandbox_connect(oc_sandbox **out, oc_context *ctx, const char *id, oc_error **error)
{
    GError *err = NULL;
    oc_sandbox *sb;

    CHECK_ARG(out && ctx && id, "oc_sandbox_connect: out, ctx and id must not be NULL");
    sb = core_sandbox_connect(ctx, id, &err);
    if (!sb)
        return oc_error_propagate(error, err);
    *out = sb;
    return OC_OK;
}

OC_API oc_sandbox *oc_sandbox_ref(oc_sandbox *sb)
{
    if (sb)
        g_atomic_int_inc(&sb->refcount);
    return sb;
}

OC_API oc_sandbox *oc_sandbox_unref(oc_sandbox *sb)
{
    if (sb && g_atomic_int_dec_and_test(&sb->refcount))
        core_sandbox_free(sb);
    return NULL;
}

OC_API const char *oc_sandbox_id(const oc_sandbox *sb)
{
    return sb ? sb->id : NULL;
}

OC_API int oc_sandbox_kill(oc_sandbox *sb, uint32_t flags, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(sb, "oc_sandbox_kill: sb must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_kill", &err) || !core_sandbox_kill(sb, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_sandbox_status(oc_sandbox *sb, int *out, oc_error **error)
{
    GError *err = NULL;
    int state;

    CHECK_ARG(sb && out, "oc_sandbox_status: sb and out must not be NULL");
    state = core_sandbox_state(sb, &err);
    if (state < 0)
        return oc_error_propagate(error, err);
    *out = state;
    return OC_OK;
}

OC_API int oc_sandbox_is_running(oc_sandbox *sb, int *out, oc_error **error)
{
    int state, rc;

    CHECK_ARG(out, "oc_sandbox_is_running: out must not be NULL");
    rc = oc_sandbox_status(sb, &state, error);
    if (rc == OC_OK)
        *out = state == OC_STATE_RUNNING;
    return rc;
}

OC_API int oc_sandbox_set_timeout(oc_sandbox *sb, uint32_t timeout_s, uint32_t flags, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(sb, "oc_sandbox_set_timeout: sb must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_set_timeout", &err) ||
        !core_sandbox_set_timeout(sb, timeout_s, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_sandbox_expose_port(oc_sandbox *sb, uint16_t guest_port, uint16_t host_port,
                                  uint32_t flags, char **host_out, oc_error **error)
{
    GError *err = NULL;
    guint16 bound;

    CHECK_ARG(sb, "oc_sandbox_expose_port: sb must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_expose_port", &err) ||
        !core_port_expose(sb, guest_port, host_port, &bound, &err))
        return oc_error_propagate(error, err);
    if (host_out)
        *host_out = g_strdup_printf("127.0.0.1:%u", bound);
    return OC_OK;
}

OC_API int oc_sandbox_unexpose_port(oc_sandbox *sb, uint16_t guest_port, uint32_t flags,
                                    oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(sb, "oc_sandbox_unexpose_port: sb must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_unexpose_port", &err) ||
        !core_port_unexpose(sb, guest_port, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API const char *oc_wake_kind_name(int kind)
{
    switch (kind) {
    case OC_WAKE_NONE: return "running";
    case OC_WAKE_RESTORED: return "restored";
    case OC_WAKE_COLD_BOOT: return "cold-boot";
    default: return "unknown";
    }
}

OC_API int oc_sandbox_hibernate(oc_sandbox *sb, uint32_t flags, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(sb, "oc_sandbox_hibernate: sb must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_hibernate", &err) ||
        !core_sandbox_hibernate(sb, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_sandbox_reboot(oc_sandbox *sb, uint32_t flags, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(sb, "oc_sandbox_reboot: sb must not be NULL");
    if (!oc_check_flags(flags, OC_REBOOT_HARD, "oc_sandbox_reboot", &err) ||
        !core_sandbox_reboot(sb, (flags & OC_REBOOT_HARD) != 0, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_wake_options_init(oc_wake_options *opts, uint32_t version)
{
    if (!opts || version != OC_WAKE_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_wake_options)OC_WAKE_OPTIONS_INIT;
    return OC_OK;
}

OC_API int oc_sandbox_wake(oc_sandbox *sb, const oc_wake_options *opts, int *kind,
                           oc_error **error)
{
    static const oc_wake_options defaults = OC_WAKE_OPTIONS_INIT;
    GError *err = NULL;

    CHECK_ARG(sb, "oc_sandbox_wake: sb must not be NULL");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_WAKE_OPTIONS_VERSION,
              "oc_wake_options version %u is not supported; use OC_WAKE_OPTIONS_INIT",
              opts->version);
    CHECK_ARG(opts->timeout_s >= OC_TIMEOUT_KEEP && opts->timeout_s <= G_MAXUINT32,
              "oc_sandbox_wake: timeout %" G_GINT64_FORMAT " is out of range: use seconds >= 0 "
              "(0: never) or OC_TIMEOUT_KEEP", opts->timeout_s);
    if (!core_sandbox_wake(sb, opts->timeout_s, kind, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_sandbox_info_get(oc_sandbox_info **out, oc_sandbox *sb, oc_error **error)
{
    GError *err = NULL;
    oc_sandbox_info *info;

    CHECK_ARG(out && sb, "oc_sandbox_info_get: out and sb must not be NULL");
    info = core_sandbox_info(sb, &err);
    if (!info)
        return oc_error_propagate(error, err);
    *out = info;
    return OC_OK;
}

OC_API void oc_sandbox_info_free(oc_sandbox_info *info)
{
    core_sandbox_info_free(info);
}

OC_API const char *oc_sandbox_info_id(const oc_sandbox_info *i) { return i->record->id; }
OC_API const char *oc_sandbox_info_template(const oc_sandbox_info *i) { return i->record->template_name; }
OC_API int oc_sandbox_info_state(const oc_sandbox_info *i) { return i->state; }
OC_API int64_t oc_sandbox_info_created(const oc_sandbox_info *i) { return i->record->created; }
OC_API const char *oc_sandbox_info_accelerator(const oc_sandbox_info *i) { return i->accelerator; }
OC_API uint32_t oc_sandbox_info_cpu_count(const oc_sandbox_info *i) { return i->record->cpu_count; }
OC_API uint32_t oc_sandbox_info_memory_mb(const oc_sandbox_info *i) { return i->record->memory_mb; }
OC_API uint32_t oc_sandbox_info_timeout(const oc_sandbox_info *i) { return i->record->timeout_s; }
OC_API int oc_sandbox_info_last_wake(const oc_sandbox_info *i) { return i->record->last_wake; }
OC_API int64_t oc_sandbox_info_idle_deadline(const oc_sandbox_info *i) { return i->idle_deadline; }

static const char *kv_at(GPtrArray *kv, char **keys, size_t i, const char **value)
{
    if (i >= kv->len)
        return NULL;
    if (value)
        *value = strchr(kv->pdata[i], '=') + 1;
    return keys[i];
}

OC_API size_t oc_sandbox_info_metadata_count(const oc_sandbox_info *i) { return i->record->metadata->len; }
OC_API const char *oc_sandbox_info_metadata_at(const oc_sandbox_info *i, size_t n, const char **value)
{
    return kv_at(i->record->metadata, i->meta_keys, n, value);
}
OC_API const char *oc_sandbox_info_metadata_get(const oc_sandbox_info *i, const char *key)
{
    return virt_kv_lookup(i->record->metadata, key);
}
OC_API size_t oc_sandbox_info_env_count(const oc_sandbox_info *i) { return i->record->envs->len; }
OC_API const char *oc_sandbox_info_env_at(const oc_sandbox_info *i, size_t n, const char **value)
{
    return kv_at(i->record->envs, i->env_keys, n, value);
}

OC_API const char *oc_sandbox_info_origin(const oc_sandbox_info *i)
{
    return i ? (i->record->origin ? i->record->origin : "boot") : NULL;
}

OC_API const char *oc_sandbox_info_checkpoint(const oc_sandbox_info *i)
{
    return i ? i->record->checkpoint : NULL;
}

OC_API const char *oc_sandbox_info_reason(const oc_sandbox_info *i)
{
    return i ? i->reason : NULL;
}

struct oc_sandbox_list {
    GPtrArray *items;
};

OC_API int oc_sandbox_list_get(oc_sandbox_list **out, oc_context *ctx,
                               const char *const *metadata_filter, uint32_t flags, oc_error **error)
{
    GError *err = NULL;
    GPtrArray *items;

    CHECK_ARG(out && ctx, "oc_sandbox_list_get: out and ctx must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_list_get", &err))
        return oc_error_propagate(error, err);
    items = core_sandbox_list(ctx, metadata_filter, &err);
    if (!items)
        return oc_error_propagate(error, err);
    *out = g_new0(oc_sandbox_list, 1);
    (*out)->items = items;
    return OC_OK;
}

OC_API size_t oc_sandbox_list_count(const oc_sandbox_list *l) { return l ? l->items->len : 0; }
OC_API const oc_sandbox_info *oc_sandbox_list_at(const oc_sandbox_list *l, size_t i)
{
    return l && i < l->items->len ? l->items->pdata[i] : NULL;
}
OC_API void oc_sandbox_list_free(oc_sandbox_list *l)
{
    if (!l)
        return;
    g_ptr_array_unref(l->items);
    g_free(l);
}
