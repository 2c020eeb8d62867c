/* exec.c: EXEC streams: spawning, pipes, exit and RESULT.  The spawning is
 * shared with SESSION_START (sessions.c); the request is parsed in
 * requests.c. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


/* PATH search as execvp does it, but with the PATH of the environment the
 * command will get (the host's ENV), not the agent's.  Returns 0 and the
 * path, or the shell's exit code: 127 not found, 126 not executable. */
static int resolve(const char *name, char *const envp[], char *out, size_t cap)
{
    struct stat st;
    if (!*name)
        return 127;
    if (strchr(name, '/')) {
        if (stat(name, &st) < 0)
            return errno == ENOENT || errno == ENOTDIR ? 127 : 126;
        if (S_ISDIR(st.st_mode) || access(name, X_OK) < 0)
            return 126;
        snprintf(out, cap, "%s", name);
        return 0;
    }
    const char *path = AGENT_DEFAULT_PATH;
    for (char *const *e = envp; *e; e++)
        if (!strncmp(*e, "PATH=", 5))
            path = *e + 5;
    int found_noexec = 0;
    while (path) {
        const char *colon = strchr(path, ':');
        size_t dl = colon ? (size_t)(colon - path) : strlen(path);
        int n = snprintf(out, cap, "%.*s%s%s", (int)dl, path, dl ? "/" : "", name);
        path = colon ? colon + 1 : NULL;
        if (n < 0 || (size_t)n >= cap || stat(out, &st) < 0 || S_ISDIR(st.st_mode))
            continue;
        if (access(out, X_OK) == 0)
            return 0;
        found_noexec = 1;
    }
    return found_noexec ? 126 : 127;
}

void exec_put_exit(oc_proto_writer *w, int status)
{
    int code = 0, sig = 0;
    if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
        code = 128 + sig;
    }
    oc_proto_put_i32(w, OC_F_EXIT_CODE, code);
    oc_proto_put_u32(w, OC_F_EXIT_SIGNAL, (uint32_t)sig);
}

void exec_send_result(agent_stream *s, int status, int timed_out, int64_t duration_us)
{
    uint8_t buf[128];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    exec_put_exit(&w, status);
    oc_proto_put_u8(&w, OC_F_TIMED_OUT, (uint8_t)(timed_out != 0));
    oc_proto_put_u64(&w, OC_F_DURATION_US, (uint64_t)duration_us);
    stream_send(s, OC_T_RESULT, 0, buf, (uint32_t)w.len);
}

static void send_result(agent_stream *s)
{
    /* a port connection has no process: its duration is the connection's */
    int64_t end = s->op == OC_OP_PORT_CONNECT ? agent_now_us() : s->t_exit_us;
    exec_send_result(s, s->status, s->timed_out, end - s->t_start_us);
}

static void maybe_finish(agent_stream *s)
{
    if (!s->exited || s->out_fd[1] >= 0 || s->out_fd[2] >= 0)
        return;
    send_result(s);
    stream_free(s, 0);
}

static void close_out(agent_stream *s, int chan)
{
    if (s->out_fd[chan] < 0)
        return;
    close(s->out_fd[chan]);
    s->out_fd[chan] = -1;
    stream_send(s, OC_T_EOF, (uint8_t)chan, NULL, 0);
}

/* ---- host input buffered for a pipe (EXEC stdin, SESSION_ATTACH) ---- */

int input_append(agent_stream *s, int fd, const uint8_t *p, size_t len)
{
    if (fd < 0) {
        stream_consumed(s, len);
        return 0;
    }
    if (s->in_len - s->in_off + len > s->in_cap - s->in_off) {
        /* Compact, then grow: on_data already bounds the total by the
         * window, so this never exceeds OC_PROTO_INITIAL_WINDOW. */
        memmove(s->in_buf, s->in_buf + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off;
        s->in_off = 0;
        if (s->in_len + len > s->in_cap) {
            size_t cap = s->in_len + len;
            if (cap < 64 * 1024)
                cap = 64 * 1024;
            uint8_t *b = realloc(s->in_buf, cap);
            if (!b) {
                stream_error(s, OC_PERR_LIMIT, "%s: out of memory for stdin",
                             s->op == OC_OP_EXEC ? "EXEC" : "SESSION_ATTACH");
                stream_free(s, 1);
                return -1;
            }
            s->in_buf = b;
            s->in_cap = cap;
        }
    }
    memcpy(s->in_buf + s->in_len, p, len);
    s->in_len += len;
    return 1;
}

int input_flush(agent_stream *s, int fd)
{
    while (s->in_off < s->in_len) {
        ssize_t n = write(fd, s->in_buf + s->in_off, s->in_len - s->in_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -1; /* EPIPE: the process closed its stdin */
        }
        s->in_off += (size_t)n;
        stream_consumed(s, (size_t)n);
    }
    s->in_off = s->in_len = 0;
    return 0;
}

void input_drop(agent_stream *s)
{
    /* What the process never read still counts as consumed for credit. */
    if (s->in_len > s->in_off)
        stream_consumed(s, s->in_len - s->in_off);
    free(s->in_buf);
    s->in_buf = NULL;
    s->in_len = s->in_off = s->in_cap = 0;
}

static void close_stdin(agent_stream *s)
{
    /* A socket's other fd (its output) stays open, so the peer learns of
     * the end only from a shutdown. */
    if (s->in_fd >= 0 && s->op == OC_OP_PORT_CONNECT)
        shutdown(s->in_fd, SHUT_WR);
    if (s->in_fd >= 0)
        close(s->in_fd);
    s->in_fd = -1;
    input_drop(s);
}

/* A program that cannot be run finishes like a shell would report it: a
 * message on stderr and exit code 127 or 126, with no process at all. */
static void finish_unrunnable(agent_stream *s, int code, const char *msg)
{
    s->t_start_us = s->t_exit_us = agent_now_us();
    s->exited = 1;
    s->status = code << 8;
    send_data(s, OC_CHAN_ERR, msg, strlen(msg));
    stream_send(s, OC_T_EOF, OC_CHAN_OUT, NULL, 0);
    stream_send(s, OC_T_EOF, OC_CHAN_ERR, NULL, 0);
    send_result(s);
    stream_free(s, 0);
}

static int unrunnable(int code, const char *name, const char *why, char *msg, size_t cap)
{
    snprintf(msg, cap, "oc-agent: %.400s: %s\n", name, why);
    return code;
}

static int make_pipe(int fds[2], int parent_end)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    /* Only the agent's end is nonblocking: the child gets ordinary blocking
     * stdio. */
    agent_set_nonblock(fds[parent_end]);
    return 0;
}

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

/* Pipes for stdout and stderr, and for stdin with want_stdin (else
 * /dev/null).  The agent's ends go into c, the child's into child_end, to be
 * closed once it has them.  -1 with errno. */
static int stdio_pipes(const exec_req *q, posix_spawn_file_actions_t *fa, exec_child *c,
                       int child_end[3])
{
    int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, inp[2] = { -1, -1 };
    if (make_pipe(outp, 0) < 0 || make_pipe(errp, 0) < 0 ||
        (q->want_stdin && make_pipe(inp, 1) < 0)) {
        int err = errno;
        close_fds(outp, 2);
        close_fds(errp, 2);
        close_fds(inp, 2);
        errno = err;
        return -1;
    }
    fcntl(outp[0], F_SETPIPE_SZ, PIPE_SIZE);
    /* stdin too: a streaming reader (cat) then takes more per read, with
     * fewer switches between it and the agent. */
    if (q->want_stdin)
        fcntl(inp[1], F_SETPIPE_SZ, PIPE_SIZE);
    if (q->want_stdin)
        posix_spawn_file_actions_adddup2(fa, inp[0], 0);
    else
        posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(fa, errp[1], 2);
    child_end[0] = inp[0];
    child_end[1] = outp[1];
    child_end[2] = errp[1];
    c->out_fd[1] = outp[0];
    c->out_fd[2] = errp[0];
    c->in_fd = inp[1];
    return 0;
}

/* A terminal for stdin, stdout and stderr alike.  Its master is read as
 * stdout and written through a second descriptor as stdin, so that closing
 * stdin at the exit leaves the master open until its output is drained
 * (closing the last master descriptor hangs the terminal up).  -1 with
 * errno. */
static int stdio_pty(const exec_req *q, posix_spawn_file_actions_t *fa, exec_child *c)
{
    int m = pty_open(q->cols, q->rows, fa);
    if (m < 0)
        return -1;
    int in = fcntl(m, F_DUPFD_CLOEXEC, 0);
    if (in < 0) {
        int err = errno;
        close(m);
        errno = err;
        return -1;
    }
    c->out_fd[1] = m;
    c->in_fd = in;
    return 0;
}

/* The environment of a PTY session.  Its programs look at TERM: the host's
 * ENV, when it names one, knows the emulator at its end; otherwise
 * xterm-256color, which nearly every emulator handles, replaces whatever
 * the default environment says (that describes no terminal of ours). */
static int pty_env(exec_req *q)
{
    char *const *base = q->has_env ? q->envp : agent.default_env;
    size_t n = 0, k = 0;
    for (; base[n]; n++)
        if (q->has_env && !strncmp(base[n], "TERM=", 5))
            return 0;
    q->tty_env = calloc(n + 2, sizeof *q->tty_env);
    if (!q->tty_env)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strncmp(base[i], "TERM=", 5))
            q->tty_env[k++] = base[i];
    q->tty_env[k] = "TERM=" PTY_DEFAULT_TERM;
    return 0;
}

static int spawn_fail(agent_stream *s, exec_req *q)
{
    exec_req_free(q);
    stream_free(s, 1);
    return -1;
}

int exec_spawn(agent_stream *s, const uint8_t *p, size_t len, int force_stdin, exec_child *c,
               char *msg, size_t msg_cap)
{
    exec_req q;
    agent_fail fail;
    memset(c, 0, sizeof *c);
    c->out_fd[0] = c->out_fd[1] = c->out_fd[2] = c->in_fd = -1;
    c->t_start_us = agent_now_us();
    if (exec_req_parse(p, len, s->op, &q, &fail) < 0) {
        stream_fail(s, &fail);
        return spawn_fail(s, &q);
    }
    if (force_stdin)
        q.want_stdin = 1;
    c->cols = q.cols;
    c->rows = q.rows;
    if (q.cols && pty_env(&q) < 0) {
        stream_error(s, OC_PERR_LIMIT, "%s: out of memory", q.what);
        return spawn_fail(s, &q);
    }
    char *const *envp = q.tty_env ? q.tty_env : q.has_env ? q.envp : agent.default_env;
    agent_user user;
    if (q.user) {
        if (user_resolve(q.user, &user, fail.msg, sizeof fail.msg) < 0) {
            fail.code = OC_PERR_INVAL;
            stream_fail(s, &fail);
            return spawn_fail(s, &q);
        }
        if (!(q.user_envp = user_env(envp, &user, &q.user_env_strings))) {
            stream_error(s, OC_PERR_LIMIT, "%s: out of memory", q.what);
            return spawn_fail(s, &q);
        }
        envp = q.user_envp;
    }

    const char *cwd = q.cwd;
    if (cwd) {
        /* Checked here because posix_spawn reports a failed chdir with the
         * same errno as a missing program. */
        struct stat st;
        int err = 0;
        if (stat(cwd, &st) < 0)
            err = errno;
        else if (!S_ISDIR(st.st_mode))
            err = ENOTDIR;
        else if (access(cwd, X_OK) < 0)
            err = errno;
        if (err) {
            stream_error(s, agent_errno_code(err), "%s: working directory %.1000s: %s", q.what,
                         cwd, strerror(err));
            return spawn_fail(s, &q);
        }
    } else if (q.user) {
        cwd = access(user.home, X_OK) == 0 ? user.home : "/";
    } else {
        cwd = access("/root", X_OK) == 0 ? "/root" : "/";
    }

    char prog[OC_PROTO_MAX_PATH + 256];
    int rc;
    if (q.command) {
        /* A plain command whose program is not found still goes to the
         * shell, so that the message and status are the shell's. */
        if (!exec_req_split_simple(&q)) {
            exec_req_use_shell(&q);
        } else if (resolve(q.argv[0], envp, prog, sizeof prog) != 0) {
            exec_req_use_shell(&q);
        }
    }
    rc = resolve(q.argv[0], envp, prog, sizeof prog);
    if (rc) {
        rc = unrunnable(rc, q.argv[0], rc == 127 ? "command not found" : "Permission denied", msg,
                        msg_cap);
        exec_req_free(&q);
        return rc;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int child_end[3] = { -1, -1, -1 };
    posix_spawn_file_actions_init(&fa);
    if ((q.cols ? stdio_pty(&q, &fa, c) : stdio_pipes(&q, &fa, c, child_end)) < 0) {
        int err = errno;
        posix_spawn_file_actions_destroy(&fa);
        stream_error(s, agent_errno_code(err), "%s: cannot create %s: %s", q.what,
                     q.cols ? "a terminal" : "pipes", strerror(err));
        return spawn_fail(s, &q);
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addchdir_np(&fa, cwd);
    /* Own session and process group, so that a timeout or cancel reaches the
     * whole job; default signal handling, since the agent ignores SIGPIPE
     * and blocks SIGCHLD and children must not inherit that. */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);

    pid_t pid;
    c->t_start_us = agent_now_us();
    if (q.user) {
        /* through this binary's --as mode, which drops to the user's ids */
        char ids[32 * (AGENT_USER_MAX_GROUPS + 2)];
        char **as_argv = user_spawn_argv(&user, prog, q.argv, ids, sizeof ids);
        rc = as_argv ? posix_spawn(&pid, "/proc/self/exe", &fa, &at, as_argv, envp) : ENOMEM;
        free(as_argv);
    } else {
        rc = posix_spawn(&pid, prog, &fa, &at, q.argv, envp);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close_fds(child_end, 3);
    if (rc != 0) {
        close_fds(c->out_fd, 3);
        close_fds(&c->in_fd, 1);
        rc = rc == ENOENT ? unrunnable(127, q.argv[0], "command not found", msg, msg_cap)
                          : unrunnable(126, q.argv[0], strerror(rc), msg, msg_cap);
        exec_req_free(&q);
        return rc;
    }
    c->pid = pid;
    c->has_stdin = q.want_stdin;
    c->timeout_ms = q.timeout_ms;
    exec_req_free(&q);
    return 0;
}

void exec_open(agent_stream *s, const uint8_t *p, size_t len)
{
    exec_child c;
    char msg[512];
    int rc = exec_spawn(s, p, len, 0, &c, msg, sizeof msg);
    if (rc < 0)
        return;
    if (rc > 0) {
        finish_unrunnable(s, rc, msg);
        return;
    }
    s->t_start_us = c.t_start_us;
    s->pid = c.pid;
    s->out_fd[1] = c.out_fd[1];
    s->out_fd[2] = c.out_fd[2];
    s->in_fd = c.in_fd;
    s->has_stdin = c.has_stdin;
    if (c.timeout_ms)
        s->kill_at_ms = agent_now_ms() + c.timeout_ms;
}

/* Writes buffered stdin to the pipe, and closes it once the host's EOF has
 * been reached or the process stopped reading. */
static void flush_stdin(agent_stream *s)
{
    if (s->in_fd >= 0 && input_flush(s, s->in_fd) < 0) {
        close_stdin(s);
        return;
    }
    if (s->in_eof && s->in_len == 0 && s->in_fd >= 0)
        close_stdin(s);
}

void exec_input(agent_stream *s, const uint8_t *p, size_t len)
{
    if (input_append(s, s->in_fd, p, len) > 0)
        flush_stdin(s);
}

void exec_input_eof(agent_stream *s)
{
    s->in_eof = 1;
    if (!s->connecting) /* else the connection ends its sending side once up */
        flush_stdin(s);
}

void exec_cancel(agent_stream *s)
{
    if (forward_cancel(s))
        return;
    if (s->op == OC_OP_PORT_CONNECT) {
        /* no process: the connection ends, and with it the stream */
        close_stdin(s);
        close_out(s, OC_CHAN_OUT);
        maybe_finish(s);
        return;
    }
    /* Also after the exit: background children holding the pipes go too. */
    if (s->pid > 0)
        kill(-s->pid, SIGKILL);
}

void exec_signal(agent_stream *s, int sig)
{
    if (s->pid > 0 && !s->exited)
        kill(-s->pid, sig);
}

void exec_exited(agent_stream *s, int status)
{
    s->exited = 1;
    s->status = status;
    s->t_exit_us = agent_now_us();
    s->kill_at_ms = 0;
    s->drain_at_ms = agent_now_ms() + AGENT_DRAIN_MS;
    close_stdin(s);
    maybe_finish(s);
}

void exec_poll_setup(agent_stream *s, struct pollfd *pfd, int *n)
{
    s->pidx[0] = s->pidx[1] = s->pidx[2] = -1;
    if (forward_poll_setup(s, pfd, n))
        return;
    for (int c = 1; c <= 2; c++) {
        if (s->out_fd[c] >= 0 && stream_sendable(s, c) > 0) {
            pfd[*n] = (struct pollfd){ .fd = s->out_fd[c], .events = POLLIN };
            s->pidx[c] = (*n)++;
        }
    }
    if (s->in_fd >= 0 && s->in_len > s->in_off) {
        pfd[*n] = (struct pollfd){ .fd = s->in_fd, .events = POLLOUT };
        s->pidx[0] = (*n)++;
    }
}

void exec_poll_events(agent_stream *s, const struct pollfd *pfd)
{
    if (forward_poll_events(s, pfd))
        return;
    if (s->pidx[0] >= 0 && pfd[s->pidx[0]].revents && s->in_fd == pfd[s->pidx[0]].fd)
        flush_stdin(s);
    for (int c = 1; c <= 2; c++) {
        int i = s->pidx[c];
        if (i < 0 || !pfd[i].revents || s->out_fd[c] != pfd[i].fd)
            continue;
        /* A few reads per round: a fast writer refills the pipe meanwhile. */
        for (int k = 0; k < 4; k++) {
            size_t max = stream_sendable(s, c);
            if (!max)
                break;
            ssize_t n = send_data_from_fd(s, c, s->out_fd[c], max);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n <= 0) {
                close_out(s, c);
                break;
            }
            if ((size_t)n < max)
                break;
        }
    }
    s->pidx[0] = s->pidx[1] = s->pidx[2] = -1;
    maybe_finish(s);
}

int64_t exec_timers(agent_stream *s, int64_t now)
{
    int64_t next = 0;

    if (forward_timers(s, now, &next))
        return next;
    if (s->kill_at_ms && now >= s->kill_at_ms && !s->exited) {
        kill(-s->pid, SIGKILL);
        s->timed_out = 1;
        s->kill_at_ms = 0;
    }
    if (s->exited && s->drain_at_ms && now >= s->drain_at_ms) {
        int waiting = 0;
        for (int c = 1; c <= 2; c++) {
            int avail = 0;
            if (s->out_fd[c] < 0)
                continue;
            /* Output still in the pipe (held back by credit) is not lost:
             * only an idle pipe held open by someone else is closed. */
            if (ioctl(s->out_fd[c], FIONREAD, &avail) == 0 && avail > 0)
                waiting = 1;
            else
                close_out(s, c);
        }
        s->drain_at_ms = waiting ? now + 200 : 0;
        if (!waiting) {
            maybe_finish(s);
            return 0; /* s may be gone */
        }
    }
    if (s->kill_at_ms)
        next = s->kill_at_ms;
    if (s->drain_at_ms && (!next || s->drain_at_ms < next))
        next = s->drain_at_ms;
    return next;
}

void exec_release(agent_stream *s, int kill_group)
{
    if (kill_group && s->pid > 0 && (!s->exited || s->out_fd[1] >= 0 || s->out_fd[2] >= 0))
        kill(-s->pid, SIGKILL);
    for (int c = 1; c <= 2; c++)
        if (s->out_fd[c] >= 0)
            close(s->out_fd[c]);
    if (s->in_fd >= 0)
        close(s->in_fd);
    free(s->in_buf);
}
