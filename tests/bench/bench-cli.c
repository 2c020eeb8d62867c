/* bench-cli.c: see bench-cli.h. */
#include "bench-cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

gboolean bench_cli_parse(const GOptionEntry *entries, const char *summary, const char *prog,
                         int *argc, char ***argv)
{
    g_autoptr(GError) err = NULL;
    GOptionContext *oc = g_option_context_new(summary);

    g_option_context_add_main_entries(oc, entries, NULL);
    gboolean ok = g_option_context_parse(oc, argc, argv, &err);
    if (!ok)
        fprintf(stderr, "%s: %s\n", prog, err->message);
    g_option_context_free(oc);
    return ok;
}

void bench_cli_signal_thread(GThreadFunc fn)
{
    static sigset_t sigs;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_thread_unref(g_thread_new("signals", fn, &sigs));
}
