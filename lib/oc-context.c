/* oc-context.c: public entry points of the context. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "core/context.h"
#include "core/pool.h"
#include "oc-private.h"
#include "util/error.h"

/* How much of the struct each version has: a program built against an
 * older header passes a smaller struct, and only that much may be written. */
static size_t context_options_size(uint32_t version)
{
    switch (version) {
    case 1: return offsetof(oc_context_options, pool_size);
    case 2: return offsetof(oc_context_options, flags);
    case 3: return sizeof(oc_context_options);
    default: return 0;
    }
}

OC_API int oc_context_options_init(oc_context_options *opts, uint32_t version)
{
    oc_context_options defaults = OC_CONTEXT_OPTIONS_INIT;
    size_t size = context_options_size(version);

    if (!opts || !size)
        return OC_EINVAL;
    defaults.version = version;
    memcpy(opts, &defaults, size);
    return OC_OK;
}

OC_API int oc_context_new(oc_context **out, const oc_context_options *opts, oc_error **error)
{
    GError *err = NULL;
    const char *uri = "qemu:///system";
    const char *state_dir = g_getenv("OC_STATE_DIR");
    oc_context *ctx;

    if (!out) {
        g_set_error(&err, OC_ERROR, OC_EINVAL, "oc_context_new: out must not be NULL");
        return oc_error_propagate(error, err);
    }
    if (opts) {
        if (opts->version < 1 || opts->version > OC_CONTEXT_OPTIONS_VERSION) {
            g_set_error(&err, OC_ERROR, OC_EINVAL,
                        "oc_context_options version %u is not supported; use OC_CONTEXT_OPTIONS_INIT",
                        opts->version);
            return oc_error_propagate(error, err);
        }
        if (opts->uri)
            uri = opts->uri;
        if (opts->state_dir)
            state_dir = opts->state_dir;
        if (opts->version >= 3 && (opts->flags & ~(uint32_t)OC_CONTEXT_REQUIRE_KVM)) {
            g_set_error(&err, OC_ERROR, OC_EINVAL,
                        "oc_context_options: unknown flags 0x%x (known: OC_CONTEXT_REQUIRE_KVM)",
                        opts->flags & ~(uint32_t)OC_CONTEXT_REQUIRE_KVM);
            return oc_error_propagate(error, err);
        }
    }
    if (!state_dir || !*state_dir)
        state_dir = OC_DEFAULT_STATE_DIR;
    ctx = core_context_new(uri, state_dir, &err);
    if (!ctx)
        return oc_error_propagate(error, err);
    if (opts && opts->version >= 3 && (opts->flags & OC_CONTEXT_REQUIRE_KVM) &&
        !g_str_equal(ctx->accelerator, "kvm")) {
        g_set_error(&err, OC_ERROR, OC_EUNSUPPORTED,
                    "KVM is required (OC_CONTEXT_REQUIRE_KVM) but this host has no usable "
                    "/dev/kvm, so sandboxes would run under TCG emulation, which is not a "
                    "security boundary: enable hardware virtualization (and load kvm_intel or "
                    "kvm_amd), or drop the requirement");
        core_context_free(ctx);
        return oc_error_propagate(error, err);
    }
    if (opts && opts->version >= 2 && opts->pool_size > 0) {
        ctx->pool = core_pool_start(ctx, opts->pool_size, opts->pool_memory_mb,
                                    opts->pool_templates, &err);
        if (!ctx->pool) {
            core_context_free(ctx);
            return oc_error_propagate(error, err);
        }
    }
    *out = ctx;
    return OC_OK;
}

OC_API oc_context *oc_context_ref(oc_context *ctx)
{
    if (ctx)
        g_atomic_int_inc(&ctx->refcount);
    return ctx;
}

OC_API oc_context *oc_context_unref(oc_context *ctx)
{
    if (ctx && g_atomic_int_dec_and_test(&ctx->refcount))
        core_context_free(ctx);
    return NULL;
}

OC_API const char *oc_context_accelerator(oc_context *ctx)
{
    return ctx ? ctx->accelerator : NULL;
}
