/* templates.c: deleting a template, safely against everything that may be
 * built on it: sandboxes (running, hibernated or being created), checkpoints
 * and templates built from it. */
#include "core/templates.h"

#include <string.h>
#include <unistd.h>

#include "core/pool.h"
#include "image/store.h"
#include "image/templates.h"
#include "util/error.h"
#include "util/log.h"

/* Named in the refusal; the rest are counted. */
#define USERS_NAMED 8

/* Whether every user is an unclaimed member of the template's warm pool. */
static gboolean only_pool_members(oc_context *ctx, const char *name, GPtrArray *users)
{
    for (guint i = 0; i < users->len; i++) {
        const char *u = users->pdata[i];
        if (!g_str_has_prefix(u, "sandbox "))
            return FALSE;
        g_autofree char *marker = g_build_filename(ctx->state_dir, "pool", name,
                                                   u + strlen("sandbox "), NULL);
        if (!g_file_test(marker, G_FILE_TEST_EXISTS))
            return FALSE;
    }
    return TRUE;
}

gboolean core_template_delete(oc_context *ctx, const char *name, GError **error)
{
    g_autofree char *disk = image_template_disk(ctx->state_dir, name, error);
    g_autoptr(GPtrArray) users = NULL;
    int lock;

    if (!disk)
        return FALSE;
    /* A create holds the lock shared until its overlay exists, when the
     * scan below sees it. */
    lock = image_template_use_lock(ctx->state_dir, name, TRUE, error);
    if (lock < 0)
        return FALSE;
    users = image_template_users(ctx->state_dir, name);
    if (users->len && only_pool_members(ctx, name, users)) {
        /* made ahead for nobody yet: they go with the template (a pool
         * that refills it later logs that the template is missing) */
        log_info("template %s: killed %u unclaimed pool sandbox(es) before deleting it", name,
                 core_pool_drain(ctx, name));
        g_ptr_array_unref(users);
        users = image_template_users(ctx->state_dir, name);
    }
    if (users->len) {
        g_autoptr(GString) list = g_string_new(NULL);
        for (guint i = 0; i < users->len && i < USERS_NAMED; i++)
            g_string_append_printf(list, "%s%s", i ? ", " : "", (char *)users->pdata[i]);
        if (users->len > USERS_NAMED)
            g_string_append_printf(list, " and %u more", users->len - USERS_NAMED);
        g_set_error(error, OC_ERROR, OC_ESTATE, "template %s is in use by %s: kill those "
                    "sandboxes and delete those checkpoints and templates first", name,
                    list->str);
        close(lock);
        return FALSE;
    }
    gboolean ok = image_template_remove(ctx->state_dir, name, error);
    close(lock);
    if (ok)
        log_info("template %s deleted", name);
    return ok;
}
