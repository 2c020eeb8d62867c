/* bench-cli.h: how each bench program starts: its options and its signals. */
#ifndef BENCH_CLI_H
#define BENCH_CLI_H

#include <glib.h>

/* Parses the command line; on a mistake prints "prog: message" and returns
 * FALSE (the caller exits 2). */
gboolean bench_cli_parse(const GOptionEntry *entries, const char *summary, const char *prog,
                         int *argc, char ***argv);

/* Blocks SIGINT, SIGTERM and SIGHUP in this thread and in every thread
 * started later (libvirt's, the library's), ignores SIGPIPE, and starts
 * fn on a thread of its own with the blocked set (a sigset_t *) to
 * sigwait() on. */
void bench_cli_signal_thread(GThreadFunc fn);

#endif
