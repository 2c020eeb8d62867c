/* cmd-attach.c: following a session from the terminal: oc exec attach ID
 * SESSION, and oc shell ID (a terminal session, interactive).
 *
 * Output is written from the handle's callback thread as it comes; the main
 * thread forwards standard input and, for a terminal session, window size
 * changes (SIGWINCH), until the handle ends.  For a terminal session on a
 * local terminal, the local terminal is in raw mode meanwhile, so every key
 * (Ctrl-C included) goes to the program in the sandbox; it is restored on
 * every way out. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

/* Signals and the handle's end reach the poll loop through this pipe. */
static int wake_pipe[2] = { -1, -1 };
static volatile sig_atomic_t got_winch, got_stop;
static gint ended; /* atomic: on_end has been called */
static struct termios saved_tty;
static gboolean tty_raw;

static void wake_loop(void)
{
    int saved = errno;
    if (write(wake_pipe[1], "x", 1) < 0) {
        /* full: the loop is awake already */
    }
    errno = saved;
}

static void on_signal(int sig)
{
    if (sig == SIGWINCH)
        got_winch = 1;
    else
        got_stop = sig;
    wake_loop();
}

static void tty_restore(void)
{
    if (tty_raw) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
        tty_raw = FALSE;
    }
}

static gboolean tty_make_raw(void)
{
    struct termios raw;

    if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
        return FALSE;
    raw = saved_tty;
    cfmakeraw(&raw);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
        return FALSE;
    tty_raw = TRUE;
    atexit(tty_restore);
    return TRUE;
}

static void window_size(uint32_t *cols, uint32_t *rows)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

/* ---- callbacks (the handle's thread) ---- */

static void put(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* our terminal went away: nothing left to show it to */
        data += n;
        len -= (size_t)n;
    }
}

static void on_stdout(const char *data, size_t len, void *user_data)
{
    put(STDOUT_FILENO, data, len);
}

static void on_stderr(const char *data, size_t len, void *user_data)
{
    put(STDERR_FILENO, data, len);
}

static void on_end(int status, int exit_code, void *user_data)
{
    g_atomic_int_set(&ended, 1);
    wake_loop();
}

/* ---- the loop ---- */

typedef struct {
    gboolean interactive; /* raw local terminal, keys to a PTY */
    gboolean forward_stdin;
} Follow;

static void install_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Forwards one read of standard input; FALSE at its end. */
static gboolean forward_input(oc_exec_handle *h)
{
    char buf[4096];
    oc_error *err = NULL;
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return TRUE;
    if (n <= 0) {
        if (oc_exec_close_stdin(h, &err) < 0)
            oc_error_free(err);
        return FALSE;
    }
    if (oc_exec_send_stdin(h, buf, (size_t)n, &err) < 0)
        oc_error_free(err); /* the handle is ending: the loop sees it */
    return TRUE;
}

/* Follows h until it ends (or, when not interactive, until Ctrl-C
 * detaches); returns oc's exit code. */
static int follow(oc_exec_handle *h, const Follow *f)
{
    gboolean stdin_open = f->forward_stdin;
    oc_error *err = NULL;
    int code = 0, rc;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = wake_pipe[0], .events = POLLIN },
            { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
        };
        if (g_atomic_int_get(&ended))
            break;
        if (poll(pfd, 2, -1) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents) {
            char drain[64];
            if (read(wake_pipe[0], drain, sizeof drain) < 0) {
                /* nothing to drain */
            }
        }
        if (got_winch && f->interactive) {
            uint32_t cols = 0, rows = 0;
            got_winch = 0;
            window_size(&cols, &rows);
            if (cols && oc_exec_resize(h, cols, rows, &err) < 0)
                g_clear_pointer(&err, oc_error_free);
        }
        if (got_stop) {
            /* Not interactive: Ctrl-C leaves the process running. */
            oc_exec_detach(h);
            got_stop = 0;
        }
        if (pfd[1].revents)
            stdin_open = forward_input(h);
    }
    tty_restore();
    rc = oc_exec_wait(h, -1, &code, &err);
    if (rc == OC_ECANCELLED) {
        fprintf(stderr, "oc: detached from session %u; it goes on (oc exec attach to follow it "
                        "again)\n", oc_exec_handle_session_id(h));
        oc_error_free(err);
        return 130;
    }
    if (rc < 0)
        return cli_fail(err);
    return code & 0xff;
}

static int follow_handle(oc_exec_handle *h, Follow *f)
{
    int rc;

    if (f->interactive)
        f->interactive = tty_make_raw();
    rc = follow(h, f);
    oc_exec_handle_free(h);
    return rc;
}

static gboolean setup_loop(void)
{
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        fprintf(stderr, "oc: cannot create a pipe: %s\n", g_strerror(errno));
        return FALSE;
    }
    install_signals();
    return TRUE;
}

static const oc_exec_callbacks callbacks = {
    .version = OC_EXEC_CALLBACKS_VERSION,
    .on_stdout = on_stdout,
    .on_stderr = on_stderr,
    .on_end = on_end,
};

int cmd_exec_attach(Cli *cli, int argc, char **argv)
{
    gboolean use_stdin = FALSE;
    GOptionEntry entries[] = {
        { "stdin", 'i', 0, G_OPTION_ARG_NONE, &use_stdin, "Send oc's standard input to the session", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID SESSION - follow a session: its scrollback, then live output, until it exits "
        "(Ctrl-C detaches; a terminal session is interactive)");
    oc_exec_handle *h = NULL;
    oc_error *err = NULL;
    oc_sandbox *sb;
    uint32_t session;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_id_session(cli, oc, argc, argv, &session, &rc);
    if (!sb)
        return rc;
    if (!setup_loop()) {
        oc_sandbox_unref(sb);
        return CLI_EXIT_FAILURE;
    }
    rc = oc_exec_attach(&h, sb, session, &callbacks, &err);
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    /* A terminal session on a local terminal is used as a terminal. */
    Follow f = { .interactive = oc_exec_handle_is_pty(h) && isatty(STDIN_FILENO),
                 .forward_stdin = use_stdin };
    f.forward_stdin = f.forward_stdin || f.interactive;
    if (f.interactive) {
        uint32_t cols = 0, rows = 0;
        window_size(&cols, &rows);
        if (cols && oc_exec_resize(h, cols, rows, &err) < 0)
            g_clear_pointer(&err, oc_error_free);
    }
    return follow_handle(h, &f);
}

int cmd_shell(Cli *cli, int argc, char **argv)
{
    g_auto(GStrv) envs = NULL;
    g_autofree char *cwd = NULL, *shell = NULL;
    GOptionEntry entries[] = {
        { "shell", 's', 0, G_OPTION_ARG_STRING, &shell, "Program to run (default: bash -l)", "CMD" },
        { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &envs, "Environment variable", "K=V" },
        { "cwd", 'w', 0, G_OPTION_ARG_STRING, &cwd, "Working directory (default /root)", "DIR" },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID - an interactive terminal in the sandbox (exit the shell to leave)");
    oc_pty_options opts = OC_PTY_OPTIONS_INIT;
    oc_exec_handle *h = NULL;
    oc_error *err = NULL;
    oc_sandbox *sb;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_one_id(cli, oc, argc, argv, &rc);
    if (!sb)
        return rc;
    if (!setup_loop()) {
        oc_sandbox_unref(sb);
        return CLI_EXIT_FAILURE;
    }
    window_size(&opts.cols, &opts.rows);
    opts.shell = shell;
    opts.envs = (const char *const *)envs;
    opts.cwd = cwd;
    if (getenv("TERM")) {
        /* The program draws for our terminal: tell it which (unless -e
         * TERM=... says otherwise, as later entries win). */
        g_autofree char *term = g_strdup_printf("TERM=%s", getenv("TERM"));
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_strv_builder_add(b, term);
        if (envs)
            g_strv_builder_addv(b, (const char **)envs);
        g_strfreev(envs);
        envs = g_strv_builder_end(b);
        opts.envs = (const char *const *)envs;
    }
    rc = oc_pty_create(&h, sb, &opts, &callbacks, &err);
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    Follow f = { .interactive = isatty(STDIN_FILENO), .forward_stdin = TRUE };
    return follow_handle(h, &f);
}
