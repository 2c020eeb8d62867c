/* reaper.c: the idle reaper.
 *
 * A thread that, once a second, hibernates every running sandbox whose idle
 * clock (core/activity.c) has run past its timeout.  Deadlines live in the
 * sandboxes' files and records, not in the reaper, so a reaper that starts
 * after a deadline passed handles that sandbox on its first round.  One
 * reaper per state directory works at a time: it holds reaper.lock; others
 * try for the lock each round and take over when the holder goes. */
#include "core/reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/activity.h"
#include "core/power.h"
#include "image/store.h"
#include "util/error.h"
#include "util/log.h"
#include "virt/domain.h"

static gboolean try_become_active(oc_reaper *r)
{
    g_autofree char *path = g_build_filename(r->ctx->state_dir, "reaper.lock", NULL);

    if (r->lock_fd < 0) {
        r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (r->lock_fd < 0) {
            log_warning("reaper: cannot open %s: %s", path, g_strerror(errno));
            return FALSE;
        }
    }
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return FALSE;
    g_atomic_int_set(&r->active, 1);
    log_info("reaper: active for %s", r->ctx->state_dir);
    return TRUE;
}

static gboolean stopping(oc_reaper *r)
{
    gboolean stop;

    g_mutex_lock(&r->lock);
    stop = r->stop;
    g_mutex_unlock(&r->lock);
    return stop;
}

/* Only sandboxes of this reaper's state directory: their idle clocks are
 * there, and another directory's sandboxes are another reaper's. */
static gboolean sandbox_is_ours(oc_reaper *r, const char *id)
{
    g_autofree char *dir = image_sandbox_dir(r->ctx->state_dir, id);
    return g_file_test(dir, G_FILE_TEST_IS_DIR);
}

static void reap_round(oc_reaper *r)
{
    g_autoptr(GPtrArray) doms = virt_list_sandboxes(r->ctx->conn, NULL);
    gint64 now = g_get_real_time();

    for (guint i = 0; doms && i < doms->len && !stopping(r); i++) {
        virDomainPtr dom = doms->pdata[i];
        g_autoptr(VirtRecord) rec = NULL;

        if (virDomainIsActive(dom) != 1)
            continue; /* hibernated or stopped already */
        if (!sandbox_is_ours(r, virDomainGetName(dom)))
            continue;
        rec = virt_get_record(dom, NULL);
        if (!rec || rec->creating || rec->timeout_s == 0)
            continue;
        if (now < core_activity_deadline_us(r->ctx->state_dir, rec->id, rec->created,
                                            rec->timeout_s))
            continue;
        core_sandbox_reap(r->ctx, rec->id, rec->timeout_s);
    }
}

static gpointer reaper_thread(gpointer data)
{
    oc_reaper *r = data;

    for (;;) {
        if (g_atomic_int_get(&r->active) || try_become_active(r))
            reap_round(r);
        g_mutex_lock(&r->lock);
        if (!r->stop)
            g_cond_wait_until(&r->cond, &r->lock,
                              g_get_monotonic_time() + OC_REAPER_INTERVAL_MS * 1000);
        gboolean stop = r->stop;
        g_mutex_unlock(&r->lock);
        if (stop)
            break;
    }
    return NULL;
}

oc_reaper *core_reaper_start(oc_context *ctx, GError **error)
{
    oc_reaper *r = g_new0(oc_reaper, 1);

    r->ctx = oc_context_ref(ctx);
    r->lock_fd = -1;
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    /* Decide at once whether we are the active one, so callers can tell. */
    try_become_active(r);
    r->thread = g_thread_try_new("oc-reaper", reaper_thread, r, error);
    if (!r->thread) {
        g_prefix_error(error, "cannot start the reaper thread: ");
        core_reaper_stop(r);
        return NULL;
    }
    return r;
}

void core_reaper_stop(oc_reaper *r)
{
    if (!r)
        return;
    g_mutex_lock(&r->lock);
    r->stop = TRUE;
    g_cond_signal(&r->cond);
    g_mutex_unlock(&r->lock);
    if (r->thread)
        g_thread_join(r->thread);
    if (r->lock_fd >= 0)
        close(r->lock_fd); /* drops the lock: a waiting reaper takes over */
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
    oc_context_unref(r->ctx);
    g_free(r);
}
