/* pool.c: the warm pool (see pool.h). */
#include "core/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "core/activity.h"
#include "core/snapshots.h"
#include "image/store.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"

/* How often the thread looks at the pool when nothing woke it: members
 * claimed by other processes are noticed this late. */
#define POOL_POLL_MS 500

struct _CorePool {
    oc_context *own;  /* a context of the pool's own */
    guint size;
    guint budget_mb;
    char **templates;
    GThread *thread;
    GMutex lock;
    GCond cond;
    gboolean stop;
    GPtrArray *mine;  /* ids of the members this pool made */
};

static char *pool_dir(const char *state_dir, const char *template_name)
{
    return g_build_filename(state_dir, "pool", template_name, NULL);
}

guint core_pool_ready(const char *state_dir, const char *template_name)
{
    g_autofree char *dir = pool_dir(state_dir, template_name);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    guint count = 0;

    while (d && (n = g_dir_read_name(d)))
        count += g_str_has_prefix(n, "sb-");
    if (d)
        g_dir_close(d);
    return count;
}

/* Turns a claimed member into the sandbox want asks for. */
static oc_sandbox *adopt(oc_context *ctx, const char *id, const VirtRecord *want)
{
    g_autoptr(GError) err = NULL;
    virDomainPtr dom = virDomainLookupByName(ctx->conn, id);
    g_autoptr(VirtRecord) have = dom ? virt_get_record(dom, &err) : NULL;
    VirtRecord *rec;

    if (!have || !have->pool || virt_get_state(dom, NULL, NULL) != OC_STATE_RUNNING) {
        log_warning("%s: a pool member that is gone or not running; skipping it", id);
        if (dom)
            virDomainFree(dom);
        return NULL;
    }
    rec = virt_record_copy(want);
    g_free(rec->id);
    rec->id = g_strdup(id);
    g_free(rec->origin);
    rec->origin = g_strdup("pool");
    g_clear_pointer(&rec->checkpoint, g_free);
    rec->pool = FALSE;
    rec->creating = FALSE;
    rec->created = g_get_real_time() / G_USEC_PER_SEC;
    if (!virt_set_record(dom, rec, &err)) {
        log_warning("%s: cannot claim a pool member: %s", id, err->message);
        virt_record_free(rec);
        virDomainFree(dom);
        return NULL;
    }
    core_activity_touch(ctx->state_dir, id);
    return core_sandbox_wrap(ctx, dom, rec);
}

oc_sandbox *core_pool_claim(oc_context *ctx, const VirtRecord *want)
{
    g_autofree char *dir = NULL;
    GDir *d;
    const char *n;
    oc_sandbox *sb = NULL;

    if (want->cpu_count != OC_DEFAULT_CPU_COUNT || want->memory_mb != OC_DEFAULT_MEMORY_MB)
        return NULL;
    dir = pool_dir(ctx->state_dir, want->template_name);
    d = g_dir_open(dir, 0, NULL);
    while (!sb && d && (n = g_dir_read_name(d))) {
        g_autofree char *marker = g_build_filename(dir, n, NULL);
        /* Whoever removes the marker owns the member. */
        if (g_str_has_prefix(n, "sb-") && g_unlink(marker) == 0)
            sb = adopt(ctx, n, want);
    }
    if (d)
        g_dir_close(d);
    if (sb) {
        log_info("%s: claimed from the pool of template %s", sb->id, want->template_name);
        if (ctx->pool) {
            g_mutex_lock(&ctx->pool->lock);
            g_cond_signal(&ctx->pool->cond); /* refill */
            g_mutex_unlock(&ctx->pool->lock);
        }
    }
    return sb;
}

/* Makes one member of the template: a fork of its ready snapshot, or a
 * cold boot when it has none. */
static gboolean make_member(CorePool *pool, const char *template_name)
{
    oc_context *ctx = pool->own;
    CoreCreateSpec spec = { .template_name = template_name, .timeout_s = 0,
                            .cpu_count = OC_DEFAULT_CPU_COUNT, .memory_mb = OC_DEFAULT_MEMORY_MB };
    g_autoptr(ImageCheckpoint) snap = core_template_snapshot_fresh(
        ctx, template_name, spec.cpu_count, spec.memory_mb);
    g_autofree char *backing = NULL, *image = NULL, *dir = NULL, *marker = NULL;
    g_autoptr(GError) err = NULL;
    VirtRecord *rec = core_record_new(&spec, &err);
    oc_sandbox *sb;
    int fd;

    backing = snap ? image_checkpoint_file(snap, "disk.qcow2")
                   : image_template_disk(ctx->state_dir, template_name, &err);
    image = snap ? image_checkpoint_file(snap, "memory.save") : NULL;
    if (!rec || !backing) {
        virt_record_free(rec);
        log_warning("pool: cannot make a sandbox of template %s: %s", template_name,
                    err->message);
        return FALSE;
    }
    rec->origin = g_strdup("pool");
    rec->pool = TRUE;
    CoreBirth birth = { .backing = backing, .image = image, .scope = "pool" };
    sb = core_sandbox_make(ctx, rec, &birth, NULL, &err);
    if (!sb) {
        log_warning("pool: cannot make a sandbox of template %s: %s", template_name,
                    err->message);
        return FALSE;
    }
    dir = pool_dir(ctx->state_dir, template_name);
    marker = g_build_filename(dir, sb->id, NULL);
    g_mkdir_with_parents(dir, 0711);
    fd = core_sandbox_warm(sb, &err) ? open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (fd < 0) {
        log_warning("pool: cannot make %s ready: %s", sb->id, err ? err->message : g_strerror(errno));
        core_sandbox_kill(sb, NULL);
    } else {
        close(fd);
        g_mutex_lock(&pool->lock);
        g_ptr_array_add(pool->mine, g_strdup(sb->id));
        g_mutex_unlock(&pool->lock);
        log_debug("pool: %s ready for template %s", sb->id, template_name);
    }
    oc_sandbox_unref(sb);
    return fd >= 0;
}

/* Kills a member whose marker the caller removed. */
static void kill_member(oc_context *ctx, const char *id)
{
    virDomainPtr dom = virDomainLookupByName(ctx->conn, id);
    VirtRecord *rec = dom ? virt_get_record(dom, NULL) : NULL;

    if (rec && rec->pool) {
        oc_sandbox *sb = core_sandbox_wrap(ctx, dom, rec);
        core_sandbox_kill(sb, NULL);
        oc_sandbox_unref(sb);
        return;
    }
    virt_record_free(rec);
    if (dom)
        virDomainFree(dom);
}

guint core_pool_drain(oc_context *ctx, const char *template_name)
{
    g_autofree char *dir = pool_dir(ctx->state_dir, template_name);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    guint killed = 0;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *marker = g_build_filename(dir, n, NULL);
        if (g_str_has_prefix(n, "sb-") && g_unlink(marker) == 0) {
            kill_member(ctx, n);
            killed++;
        }
    }
    if (d)
        g_dir_close(d);
    return killed;
}

static guint members_on_host(CorePool *pool)
{
    guint n = 0;
    for (char **t = pool->templates; *t; t++)
        n += core_pool_ready(pool->own->state_dir, *t);
    return n;
}

static gpointer pool_thread(gpointer data)
{
    CorePool *pool = data;

    for (;;) {
        gboolean made = FALSE;
        for (char **t = pool->templates; *t; t++) {
            if (g_atomic_int_get(&pool->stop))
                break;
            if (core_pool_ready(pool->own->state_dir, *t) >= pool->size ||
                (members_on_host(pool) + 1) * OC_DEFAULT_MEMORY_MB > pool->budget_mb)
                continue;
            made |= make_member(pool, *t);
        }
        g_mutex_lock(&pool->lock);
        if (!pool->stop && !made)
            g_cond_wait_until(&pool->cond, &pool->lock,
                              g_get_monotonic_time() + POOL_POLL_MS * G_TIME_SPAN_MILLISECOND);
        gboolean stop = pool->stop;
        g_mutex_unlock(&pool->lock);
        if (stop)
            return NULL;
    }
}

CorePool *core_pool_start(oc_context *ctx, guint size, guint memory_mb,
                          const char *const *templates, GError **error)
{
    static const char *const base[] = { "base", NULL };
    CorePool *pool;
    oc_context *own = core_context_new(ctx->uri, ctx->state_dir, error);

    if (!own)
        return NULL;
    pool = g_new0(CorePool, 1);
    pool->own = own;
    pool->size = size;
    pool->budget_mb = memory_mb ? memory_mb : OC_DEFAULT_POOL_MEMORY_MB;
    pool->templates = g_strdupv((char **)(templates ? templates : base));
    pool->mine = g_ptr_array_new_with_free_func(g_free);
    g_mutex_init(&pool->lock);
    g_cond_init(&pool->cond);
    pool->thread = g_thread_new("oc-pool", pool_thread, pool);
    return pool;
}

guint core_pool_target(CorePool *pool, const char *template_name)
{
    return pool && g_strv_contains((const char *const *)pool->templates, template_name)
               ? pool->size : 0;
}

void core_pool_stop(CorePool *pool)
{
    if (!pool)
        return;
    g_mutex_lock(&pool->lock);
    pool->stop = TRUE;
    g_cond_signal(&pool->cond);
    g_mutex_unlock(&pool->lock);
    g_thread_join(pool->thread);
    for (guint i = 0; i < pool->mine->len; i++) {
        const char *id = pool->mine->pdata[i];
        for (char **t = pool->templates; *t; t++) {
            g_autofree char *dir = pool_dir(pool->own->state_dir, *t);
            g_autofree char *marker = g_build_filename(dir, id, NULL);
            if (g_unlink(marker) == 0) /* else claimed, or of another template */
                kill_member(pool->own, id);
        }
    }
    g_ptr_array_unref(pool->mine);
    g_strfreev(pool->templates);
    g_mutex_clear(&pool->lock);
    g_cond_clear(&pool->cond);
    oc_context_unref(pool->own);
    g_free(pool);
}
