/* oc-reaper.c: public entry points of the idle reaper. */
#include "core/reaper.h"
#include "oc-private.h"

OC_API int oc_reaper_start(oc_reaper **out, oc_context *ctx, uint32_t flags, oc_error **error)
{
    GError *err = NULL;
    oc_reaper *r;

    CHECK_ARG(out && ctx, "oc_reaper_start: out and ctx must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_reaper_start", &err))
        return oc_error_propagate(error, err);
    r = core_reaper_start(ctx, &err);
    if (!r)
        return oc_error_propagate(error, err);
    *out = r;
    return OC_OK;
}

OC_API int oc_reaper_is_active(oc_reaper *reaper)
{
    return reaper && g_atomic_int_get(&reaper->active) ? 1 : 0;
}

OC_API void oc_reaper_stop(oc_reaper *reaper)
{
    core_reaper_stop(reaper);
}
