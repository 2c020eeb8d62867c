/* oc-import.c: public entry points of template imports and layer cache
 * prunes. */
#include "core/import.h"
#include "image/layerprune.h"
#include "oc-private.h"

OC_API int oc_template_import_options_init(oc_template_import_options *opts, uint32_t version)
{
    if (!opts || version != OC_TEMPLATE_IMPORT_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_template_import_options)OC_TEMPLATE_IMPORT_OPTIONS_INIT;
    return OC_OK;
}

OC_API int oc_template_import(oc_context *ctx, const char *name, const char *tar_path,
                              const oc_template_import_options *opts, oc_error **error)
{
    static const oc_template_import_options defaults = OC_TEMPLATE_IMPORT_OPTIONS_INIT;
    GError *err = NULL;

    CHECK_ARG(ctx && name && tar_path,
              "oc_template_import: ctx, name and tar_path must not be NULL");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_TEMPLATE_IMPORT_OPTIONS_VERSION,
              "oc_template_import_options version %u is not supported; use "
              "OC_TEMPLATE_IMPORT_OPTIONS_INIT", opts->version);
    CoreImportOptions o = { .prepare = opts->prepare != 0, .log = opts->log,
                            .log_data = opts->log_user_data };
    if (!core_template_import(ctx, name, tar_path, &o, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_template_prune_options_init(oc_template_prune_options *opts, uint32_t version)
{
    if (!opts || version != OC_TEMPLATE_PRUNE_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_template_prune_options)OC_TEMPLATE_PRUNE_OPTIONS_INIT;
    return OC_OK;
}

OC_API int oc_template_prune(oc_context *ctx, const oc_template_prune_options *opts,
                             uint32_t *removed, uint64_t *bytes_freed, uint32_t *kept,
                             oc_error **error)
{
    static const oc_template_prune_options defaults = OC_TEMPLATE_PRUNE_OPTIONS_INIT;
    GError *err = NULL;
    ImageLayerPrune r;

    CHECK_ARG(ctx, "oc_template_prune: ctx must not be NULL");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_TEMPLATE_PRUNE_OPTIONS_VERSION,
              "oc_template_prune_options version %u is not supported; use "
              "OC_TEMPLATE_PRUNE_OPTIONS_INIT", opts->version);
    if (!image_layers_prune_cache(ctx->state_dir, opts->keep_days, &r, &err)) {
        g_prefix_error(&err, "cannot prune the layer cache: ");
        return oc_error_propagate(error, err);
    }
    if (removed)
        *removed = r.removed;
    if (bytes_freed)
        *bytes_freed = r.bytes_freed;
    if (kept)
        *kept = r.kept;
    return OC_OK;
}
