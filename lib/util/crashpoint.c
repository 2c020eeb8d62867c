/* crashpoint.c: see crashpoint.h. */
#include "util/crashpoint.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static char **labels; /* NULL: no point is named (the common case) */

static void load_labels(void)
{
    static gsize once;

    if (g_once_init_enter(&once)) {
        const char *v = g_getenv("OC_CRASH_POINT");
        if (v && *v)
            labels = g_strsplit(v, ",", -1);
        g_once_init_leave(&once, 1);
    }
}

static gboolean named(const char *scope, const char *step)
{
    size_t n;

    load_labels();
    if (G_LIKELY(!labels))
        return FALSE;
    n = strlen(scope);
    for (char **l = labels; *l; l++)
        if (strncmp(*l, scope, n) == 0 && (*l)[n] == '.' && strcmp(*l + n + 1, step) == 0)
            return TRUE;
    return FALSE;
}

static G_GNUC_NORETURN void die(void)
{
    /* SIGKILL, like the OOM killer or a power cut: no handler, no atexit,
     * no buffered write reaches a file. */
    for (;;) {
        kill(getpid(), SIGKILL);
        pause();
    }
}

void crash_point(const char *scope, const char *step)
{
    if (named(scope, step))
        die();
}

static gpointer die_later(gpointer data)
{
    g_usleep(CRASH_TIMER_DELAY_MS * 1000);
    die();
    return NULL;
}

void crash_timer_start(const char *scope, const char *step)
{
    if (named(scope, step))
        g_thread_unref(g_thread_new("oc-crash", die_later, NULL));
}

void crash_timer_end(const char *scope, const char *step)
{
    crash_point(scope, step);
}
