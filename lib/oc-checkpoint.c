/* oc-checkpoint.c: public entry points of checkpoints, forks, template
 * snapshots and the warm pool. */
#include <stddef.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/pool.h"
#include "core/snapshots.h"
#include "image/store.h"
#include "oc-private.h"
#include "util/error.h"

struct oc_checkpoint {
    ImageCheckpoint *cp;
};

struct oc_checkpoint_list {
    GPtrArray *items; /* oc_checkpoint* */
};

static oc_checkpoint *wrap(ImageCheckpoint *cp)
{
    oc_checkpoint *c = g_new0(oc_checkpoint, 1);
    c->cp = cp;
    return c;
}

OC_API void oc_checkpoint_free(oc_checkpoint *cp)
{
    if (!cp)
        return;
    image_checkpoint_free(cp->cp);
    g_free(cp);
}

OC_API int oc_checkpoint_create(oc_checkpoint **out, oc_sandbox *sb, const char *name,
                                uint32_t flags, oc_error **error)
{
    GError *err = NULL;
    ImageCheckpoint *cp;

    CHECK_ARG(out && sb && name, "oc_checkpoint_create: out, sb and name must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_checkpoint_create", &err) ||
        !(cp = core_checkpoint_create(sb, name, &err)))
        return oc_error_propagate(error, err);
    *out = wrap(cp);
    return OC_OK;
}

OC_API int oc_checkpoint_get(oc_checkpoint **out, oc_context *ctx, const char *id,
                             oc_error **error)
{
    GError *err = NULL;
    ImageCheckpoint *cp;

    CHECK_ARG(out && ctx && id, "oc_checkpoint_get: out, ctx and id must not be NULL");
    cp = image_checkpoint_load(ctx->state_dir, id, &err);
    if (!cp)
        return oc_error_propagate(error, err);
    *out = wrap(cp);
    return OC_OK;
}

OC_API const char *oc_checkpoint_id(const oc_checkpoint *cp)
{
    return cp ? cp->cp->id : NULL;
}

OC_API const char *oc_checkpoint_name(const oc_checkpoint *cp)
{
    return cp ? cp->cp->name : NULL;
}

OC_API const char *oc_checkpoint_sandbox_id(const oc_checkpoint *cp)
{
    return cp ? cp->cp->sandbox_id : NULL;
}

OC_API const char *oc_checkpoint_template(const oc_checkpoint *cp)
{
    return cp ? cp->cp->template_name : NULL;
}

OC_API int64_t oc_checkpoint_created_at(const oc_checkpoint *cp)
{
    return cp ? cp->cp->created : 0;
}

OC_API uint64_t oc_checkpoint_size_bytes(const oc_checkpoint *cp)
{
    return cp ? cp->cp->size_bytes : 0;
}

OC_API uint32_t oc_checkpoint_cpu_count(const oc_checkpoint *cp)
{
    return cp ? cp->cp->cpu_count : 0;
}

OC_API uint32_t oc_checkpoint_memory_mb(const oc_checkpoint *cp)
{
    return cp ? cp->cp->memory_mb : 0;
}

OC_API int oc_checkpoint_list_get(oc_checkpoint_list **out, oc_context *ctx,
                                  const char *sandbox_id, uint32_t flags, oc_error **error)
{
    GError *err = NULL;
    g_autoptr(GPtrArray) cps = NULL;
    oc_checkpoint_list *list;

    CHECK_ARG(out && ctx, "oc_checkpoint_list_get: out and ctx must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_checkpoint_list_get", &err))
        return oc_error_propagate(error, err);
    cps = image_checkpoint_list(ctx->state_dir, sandbox_id);
    list = g_new0(oc_checkpoint_list, 1);
    list->items = g_ptr_array_new_with_free_func((GDestroyNotify)oc_checkpoint_free);
    for (guint i = 0; i < cps->len; i++)
        g_ptr_array_add(list->items, wrap(g_ptr_array_steal_index(cps, i--)));
    *out = list;
    return OC_OK;
}

OC_API size_t oc_checkpoint_list_count(const oc_checkpoint_list *list)
{
    return list ? list->items->len : 0;
}

OC_API const oc_checkpoint *oc_checkpoint_list_at(const oc_checkpoint_list *list, size_t i)
{
    return list && i < list->items->len ? list->items->pdata[i] : NULL;
}

OC_API void oc_checkpoint_list_free(oc_checkpoint_list *list)
{
    if (!list)
        return;
    g_ptr_array_unref(list->items);
    g_free(list);
}

OC_API int oc_checkpoint_delete(oc_context *ctx, const char *id, uint32_t flags,
                                oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(ctx && id, "oc_checkpoint_delete: ctx and id must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_checkpoint_delete", &err) ||
        !image_checkpoint_delete(ctx->state_dir, id, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API int oc_sandbox_restore_checkpoint(oc_sandbox *sb, const char *checkpoint_id,
                                         uint32_t flags, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(sb && checkpoint_id,
              "oc_sandbox_restore_checkpoint: sb and checkpoint_id must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_sandbox_restore_checkpoint", &err) ||
        !core_sandbox_restore(sb, checkpoint_id, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}

/* How much of the struct each version has (see oc_sandbox_options_init). */
static size_t fork_options_size(uint32_t version)
{
    switch (version) {
    case 1: return offsetof(oc_fork_options, network);
    case 2: return sizeof(oc_fork_options);
    default: return 0;
    }
}

OC_API int oc_fork_options_init(oc_fork_options *opts, uint32_t version)
{
    oc_fork_options defaults = OC_FORK_OPTIONS_INIT;
    size_t size = fork_options_size(version);

    if (!opts || !size)
        return OC_EINVAL;
    defaults.version = version;
    memcpy(opts, &defaults, size);
    return OC_OK;
}

/* Checks the arguments of both fork calls and forks. */
static GPtrArray *fork_checked(const char *func, oc_context *ctx, const char *checkpoint_id,
                               const oc_fork_options *opts, gboolean many, GError **error)
{
    static const oc_fork_options defaults = OC_FORK_OPTIONS_INIT;
    g_autoptr(ImageCheckpoint) cp = NULL;
    g_autoptr(NetPolicy) network = NULL;
    guint count;
    CoreCreateSpec spec;

    if (!opts)
        opts = &defaults;
    if (opts->version < 1 || opts->version > OC_FORK_OPTIONS_VERSION) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s: oc_fork_options version %u is not "
                    "supported; use OC_FORK_OPTIONS_INIT", func, opts->version);
        return NULL;
    }
    if (opts->version >= 2 && !oc_network_policy_take(opts->network, &network, func, error))
        return NULL;
    count = opts->count ? opts->count : 1;
    if (count > (many ? OC_MAX_FORK_COUNT : 1)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, many ? "%s: count %u is out of range: use 1 to %d"
                    : "%s: count %u: use oc_sandbox_fork() for more than one", func, count,
                    OC_MAX_FORK_COUNT);
        return NULL;
    }
    cp = image_checkpoint_load(ctx->state_dir, checkpoint_id, error);
    if (!cp)
        return NULL;
    spec = (CoreCreateSpec){
        .timeout_s = opts->timeout_s == OC_TIMEOUT_DEFAULT ? OC_DEFAULT_IDLE_TIMEOUT_S
                                                           : opts->timeout_s,
        .envs = opts->envs,
        .metadata = opts->metadata,
        /* a fork is a copy: it keeps the policy unless given another */
        .network = network ? network : cp->network,
    };
    return core_sandbox_fork(ctx, cp, "checkpoint", &spec, count, error);
}

OC_API int oc_sandbox_create_from_checkpoint(oc_sandbox **out, oc_context *ctx,
                                             const char *checkpoint_id,
                                             const oc_fork_options *opts, oc_error **error)
{
    GError *err = NULL;
    GPtrArray *made;

    CHECK_ARG(out && ctx && checkpoint_id,
              "oc_sandbox_create_from_checkpoint: out, ctx and checkpoint_id must not be NULL");
    made = fork_checked("oc_sandbox_create_from_checkpoint", ctx, checkpoint_id, opts, FALSE,
                        &err);
    if (!made)
        return oc_error_propagate(error, err);
    *out = g_ptr_array_steal_index(made, 0);
    g_ptr_array_unref(made);
    return OC_OK;
}

OC_API int oc_sandbox_fork(oc_sandbox ***out, oc_context *ctx, const char *checkpoint_id,
                           const oc_fork_options *opts, oc_error **error)
{
    GError *err = NULL;
    GPtrArray *made;

    CHECK_ARG(out && ctx && checkpoint_id,
              "oc_sandbox_fork: out, ctx and checkpoint_id must not be NULL");
    made = fork_checked("oc_sandbox_fork", ctx, checkpoint_id, opts, TRUE, &err);
    if (!made)
        return oc_error_propagate(error, err);
    g_ptr_array_set_free_func(made, NULL);
    *out = (oc_sandbox **)g_ptr_array_free(made, FALSE);
    return OC_OK;
}

OC_API int oc_template_prepare(oc_context *ctx, const char *template_name, uint32_t flags,
                               int *built, oc_error **error)
{
    GError *err = NULL;
    gboolean did = FALSE;

    CHECK_ARG(ctx && template_name, "oc_template_prepare: ctx and template_name must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_template_prepare", &err) ||
        !core_template_prepare(ctx, template_name, &did, &err))
        return oc_error_propagate(error, err);
    if (built)
        *built = did;
    return OC_OK;
}

/* OC_EINVAL or OC_ENOTFOUND (naming the templates there are) through error
 * unless the template exists: pool and snapshot names are template names,
 * so they cannot escape the state directory. */
static gboolean check_template(oc_context *ctx, const char *name, GError **error)
{
    g_autofree char *disk = image_template_disk(ctx->state_dir, name, error);
    return disk != NULL;
}

OC_API int oc_template_snapshot_ready(oc_context *ctx, const char *template_name, int *ready,
                                      oc_error **error)
{
    GError *err = NULL;
    ImageCheckpoint *snap;

    CHECK_ARG(ctx && template_name && ready,
              "oc_template_snapshot_ready: ctx, template_name and ready must not be NULL");
    if (!check_template(ctx, template_name, &err))
        return oc_error_propagate(error, err);
    snap = core_template_snapshot_fresh(ctx, template_name, OC_DEFAULT_CPU_COUNT,
                                        OC_DEFAULT_MEMORY_MB);
    *ready = snap != NULL;
    image_checkpoint_free(snap);
    return OC_OK;
}

OC_API int oc_pool_drain(oc_context *ctx, const char *template_name, uint32_t *killed,
                         oc_error **error)
{
    GError *err = NULL;
    guint n;

    CHECK_ARG(ctx && template_name, "oc_pool_drain: ctx and template_name must not be NULL");
    if (!check_template(ctx, template_name, &err))
        return oc_error_propagate(error, err);
    n = core_pool_drain(ctx, template_name);
    if (killed)
        *killed = n;
    return OC_OK;
}

OC_API int oc_pool_status(oc_context *ctx, const char *template_name, uint32_t *ready,
                          uint32_t *target, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(ctx && template_name, "oc_pool_status: ctx and template_name must not be NULL");
    if (!check_template(ctx, template_name, &err))
        return oc_error_propagate(error, err);
    if (ready)
        *ready = core_pool_ready(ctx->state_dir, template_name);
    if (target)
        *target = core_pool_target(ctx->pool, template_name);
    return OC_OK;
}
