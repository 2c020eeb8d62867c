/* log.c: forwards library log lines to the application's handler. */
#include "util/log.h"

static GMutex log_lock;
static oc_log_fn log_fn;
static void *log_data;
static oc_destroy_notify log_destroy;

void log_set_handler(oc_log_fn fn, void *user_data, oc_destroy_notify destroy)
{
    oc_destroy_notify old_destroy;
    void *old_data;

    g_mutex_lock(&log_lock);
    old_destroy = log_destroy;
    old_data = log_data;
    log_fn = fn;
    log_data = user_data;
    log_destroy = destroy;
    g_mutex_unlock(&log_lock);
    if (old_destroy)
        old_destroy(old_data);
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    /* Read without the lock first: the common case is no handler at all. */
    if (g_atomic_pointer_get(&log_fn) == NULL)
        return;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_mutex_lock(&log_lock);
    if (log_fn)
        log_fn(level, msg, log_data);
    g_mutex_unlock(&log_lock);
    g_free(msg);
}
