/* context.c: libvirt connection, state directory and the event thread. */
#include "core/context.h"
#include "core/pool.h"

#include <libvirt/virterror.h>
#include <unistd.h>

#include "config.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"

static void ignore_libvirt_errors(void *data, virErrorPtr err)
{
    /* libvirt prints errors to stderr by default; a library must not.  We
     * read them with virGetLastErrorMessage() where they matter. */
}

static gboolean quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static gpointer event_thread(gpointer data)
{
    oc_context *ctx = data;

    g_main_context_push_thread_default(ctx->main_context);
    g_main_loop_run(ctx->loop);
    g_main_context_pop_thread_default(ctx->main_context);
    return NULL;
}

oc_context *core_context_new(const char *uri, const char *state_dir, GError **error)
{
    oc_context *ctx;
    virConnectPtr conn;

    virSetErrorFunc(NULL, ignore_libvirt_errors);
    conn = virConnectOpen(uri);
    if (!conn) {
        virt_set_error(error, OC_EVIRT,
                       "cannot connect to libvirt at %s (is libvirtd running? "
                       "./scripts/quickstart starts it)", uri);
        return NULL;
    }
    if (g_mkdir_with_parents(state_dir, 0755) < 0 ||
        access(state_dir, W_OK) < 0) {
        g_set_error(error, OC_ERROR, OC_EPERM,
                    "cannot use the state directory %s: %s (run as root, or set "
                    "OC_STATE_DIR to a writable directory)", state_dir, g_strerror(errno));
        virConnectClose(conn);
        return NULL;
    }
    ctx = g_new0(oc_context, 1);
    ctx->refcount = 1;
    ctx->conn = conn;
    ctx->uri = g_strdup(uri);
    ctx->state_dir = g_strdup(state_dir);
    /* KVM where the host has it; otherwise TCG, which is slower and not a
     * security boundary, and which info() reports (DESIGN.md #7). */
    if (access("/dev/kvm", R_OK | W_OK) == 0) {
        ctx->accelerator = "kvm";
        ctx->domain_type = "kvm";
    } else {
        ctx->accelerator = "tcg";
        ctx->domain_type = "qemu";
    }
    g_mutex_init(&ctx->lock);
    ctx->agents = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ctx->main_context = g_main_context_new();
    ctx->loop = g_main_loop_new(ctx->main_context, FALSE);
    ctx->thread = g_thread_new("oc-events", event_thread, ctx);
    log_debug("context: %s, state %s, accelerator %s", uri, state_dir, ctx->accelerator);
    return ctx;
}

void core_context_warn_isolation(oc_context *ctx, const char *what)
{
    if (g_str_equal(ctx->accelerator, "tcg"))
        log_warning("%s: runs under TCG emulation (no usable /dev/kvm on this host), which is "
                    "not a security boundary: do not run untrusted code in it "
                    "(OC_CONTEXT_REQUIRE_KVM refuses to run without KVM)", what);
}

void core_context_free(oc_context *ctx)
{
    g_autofree char **ids = NULL;

    core_pool_stop(ctx->pool);
    /* No handle holds the context any more, so no call is in flight. */
    g_mutex_lock(&ctx->lock);
    ids = (char **)g_hash_table_get_keys_as_array(ctx->agents, NULL);
    for (char **p = ids; *p; p++)
        *p = g_strdup(*p);
    g_mutex_unlock(&ctx->lock);
    for (char **p = ids; *p; p++) {
        core_agent_forget(ctx, *p);
        g_free(*p);
    }
    /* Quit from inside the loop: a g_main_loop_quit() that lands before the
     * thread has entered g_main_loop_run() would be lost, and the join
     * would wait forever. */
    {
        GSource *quit = g_idle_source_new();
        g_source_set_callback(quit, quit_loop, ctx->loop, NULL);
        g_source_attach(quit, ctx->main_context);
        g_source_unref(quit);
    }
    g_thread_join(ctx->thread);
    g_main_loop_unref(ctx->loop);
    g_main_context_unref(ctx->main_context);
    g_hash_table_unref(ctx->agents);
    g_mutex_clear(&ctx->lock);
    virConnectClose(ctx->conn);
    g_free(ctx->uri);
    g_free(ctx->state_dir);
    g_free(ctx);
}
