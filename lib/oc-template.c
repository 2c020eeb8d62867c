/* oc-template.c: public entry points of template management. */
#include "core/templates.h"
#include "image/store.h"
#include "image/templates.h"
#include "oc-private.h"
#include "util/error.h"

struct oc_template_info {
    ImageTemplate *t;
};

struct oc_template_list {
    GPtrArray *items; /* oc_template_info* */
};

OC_API void oc_template_info_free(oc_template_info *t)
{
    if (!t)
        return;
    image_template_free(t->t);
    g_free(t);
}

static oc_template_info *load(oc_context *ctx, const char *name, GError **error)
{
    ImageTemplate *t = image_template_load(ctx->state_dir, name, error);
    oc_template_info *info;
    if (!t)
        return NULL;
    info = g_new0(oc_template_info, 1);
    info->t = t;
    return info;
}

OC_API int oc_template_get(oc_template_info **out, oc_context *ctx, const char *name,
                           oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(out && ctx && name, "oc_template_get: out, ctx and name must not be NULL");
    if (!(*out = load(ctx, name, &err)))
        return oc_error_propagate(error, err);
    return OC_OK;
}

OC_API const char *oc_template_info_name(const oc_template_info *t)
{
    return t ? t->t->name : NULL;
}

OC_API const char *oc_template_info_parent(const oc_template_info *t)
{
    return t ? t->t->parent : NULL;
}

OC_API int64_t oc_template_info_created_at(const oc_template_info *t)
{
    return t ? t->t->created_at : 0;
}

OC_API uint64_t oc_template_info_size_bytes(const oc_template_info *t)
{
    return t ? t->t->size_bytes : 0;
}

OC_API uint64_t oc_template_info_disk_bytes(const oc_template_info *t)
{
    return t ? t->t->disk_bytes : 0;
}

OC_API const char *const *oc_template_info_steps(const oc_template_info *t)
{
    return t ? (const char *const *)t->t->steps : NULL;
}

OC_API const char *const *oc_template_info_env(const oc_template_info *t)
{
    return t ? (const char *const *)t->t->env : NULL;
}

OC_API const char *oc_template_info_workdir(const oc_template_info *t)
{
    return t ? t->t->workdir : NULL;
}

OC_API const char *oc_template_info_user(const oc_template_info *t)
{
    return t ? t->t->user : NULL;
}

OC_API const char *oc_template_info_imported_from(const oc_template_info *t)
{
    return t ? t->t->imported_from : NULL;
}

OC_API const char *const *oc_template_info_agent(const oc_template_info *t)
{
    return t ? (const char *const *)t->t->agent : NULL;
}

OC_API int oc_template_list_get(oc_template_list **out, oc_context *ctx, uint32_t flags,
                                oc_error **error)
{
    GError *err = NULL;
    g_autoptr(GPtrArray) names = NULL;
    oc_template_list *list;

    CHECK_ARG(out && ctx, "oc_template_list_get: out and ctx must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_template_list_get", &err))
        return oc_error_propagate(error, err);
    names = image_template_list(ctx->state_dir);
    list = g_new0(oc_template_list, 1);
    list->items = g_ptr_array_new_with_free_func((GDestroyNotify)oc_template_info_free);
    for (guint i = 0; i < names->len; i++) {
        /* one deleted or damaged while listing is left out, not an error */
        oc_template_info *t = load(ctx, names->pdata[i], NULL);
        if (t)
            g_ptr_array_add(list->items, t);
    }
    *out = list;
    return OC_OK;
}

OC_API size_t oc_template_list_count(const oc_template_list *list)
{
    return list ? list->items->len : 0;
}

OC_API const oc_template_info *oc_template_list_at(const oc_template_list *list, size_t i)
{
    return list && i < list->items->len ? list->items->pdata[i] : NULL;
}

OC_API void oc_template_list_free(oc_template_list *list)
{
    if (!list)
        return;
    g_ptr_array_unref(list->items);
    g_free(list);
}

OC_API int oc_template_delete(oc_context *ctx, const char *name, uint32_t flags,
                              oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(ctx && name, "oc_template_delete: ctx and name must not be NULL");
    if (!oc_check_flags(flags, 0, "oc_template_delete", &err) ||
        !core_template_delete(ctx, name, &err))
        return oc_error_propagate(error, err);
    return OC_OK;
}
