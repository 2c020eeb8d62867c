/* exec.c: EXEC streams: request parsing, spawning, pipes, exit and RESULT.
 * The parsing and spawning are shared with SESSION_START (sessions.c). */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


typedef struct {
    char **argv;
    size_t argc;
    char **envp;
    size_t envc;
    int has_env;
    char *command;
    char *cwd;
    uint32_t timeout_ms;
    int want_stdin;
    uint32_t cols, rows; /* both or neither: a terminal rather than pipes */
    char **tty_env;   /* a PTY session's environment, if TERM had to be added */
    char *strings; /* backing store of every string above */
    char *words;   /* a copy of command split into argv, if it was simple */
    const char *what; /* the operation, for messages */
} exec_req;

static void req_free(exec_req *q)
{
    free(q->argv);
    free(q->envp);
    free(q->tty_env);
    free(q->strings);
    free(q->words);
}

/* Parses the OPEN fields.  Counts are bounded before anything is sized from
 * them, and all strings are copied into one buffer no larger than the
 * payload itself. */
static int req_parse(agent_stream *s, const uint8_t *p, size_t len, exec_req *q)
{
    oc_proto_reader r;
    oc_proto_field f;
    int rc;
    size_t nstr = 0;
    memset(q, 0, sizeof *q);
    q->what = s->op == OC_OP_EXEC ? "EXEC" : "SESSION_START";
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        switch (f.tag) {
        case OC_F_ARG: q->argc++; nstr++; break;
        case OC_F_ENV: q->envc++; nstr++; q->has_env = 1; break;
        case OC_F_COMMAND: case OC_F_CWD: nstr++; break;
        case OC_F_OP: case OC_F_TIMEOUT_MS: case OC_F_STDIN: break;
        case OC_F_COLS: case OC_F_ROWS:
            if (s->op == OC_OP_SESSION_START)
                break;
            stream_error(s, OC_PERR_INVAL, "%s: COLS and ROWS (a terminal) are only for "
                         "SESSION_START", q->what);
            return -1;
        default:
            stream_error(s, OC_PERR_UNSUPPORTED, "%s: unknown field 0x%04x", q->what, f.tag);
            return -1;
        }
    }
    if (rc < 0) {
        stream_error(s, OC_PERR_PROTOCOL, "%s: malformed field list", q->what);
        return -1;
    }
    if (q->argc > OC_PROTO_MAX_ARGS || q->envc > OC_PROTO_MAX_ARGS) {
        stream_error(s, OC_PERR_LIMIT, "%s: more than %u ARG or ENV fields", q->what,
                     OC_PROTO_MAX_ARGS);
        return -1;
    }
    /* +4 covers "/bin/sh -c CMD"; a command split into words has at most
     * len/2+1 of them. */
    q->argv = calloc(q->argc + 4 + len / 2, sizeof *q->argv);
    q->envp = calloc(q->envc + 1, sizeof *q->envp);
    q->strings = malloc(len + nstr + 1);
    if (!q->argv || !q->envp || !q->strings) {
        stream_error(s, OC_PERR_LIMIT, "%s: out of memory", q->what);
        return -1;
    }
    char *sp = q->strings;
    size_t ai = 0, ei = 0;
    oc_proto_reader_init(&r, p, len);
    while (oc_proto_next(&r, &f) == 1) {
        char *str = NULL;
        if (f.tag == OC_F_ARG || f.tag == OC_F_ENV || f.tag == OC_F_COMMAND || f.tag == OC_F_CWD) {
            if (memchr(f.data, 0, f.len)) {
                stream_error(s, OC_PERR_INVAL, "%s: string field 0x%04x contains a NUL byte",
                             q->what, f.tag);
                return -1;
            }
            memcpy(sp, f.data, f.len);
            sp[f.len] = '\0';
            str = sp;
            sp += f.len + 1;
        }
        uint32_t v;
        switch (f.tag) {
        case OC_F_ARG: q->argv[ai++] = str; break;
        case OC_F_ENV:
            if (!strchr(str, '=')) {
                stream_error(s, OC_PERR_INVAL, "%s: ENV entry '%.200s' is not K=V", q->what, str);
                return -1;
            }
            q->envp[ei++] = str;
            break;
        case OC_F_COMMAND:
            if (q->command) {
                stream_error(s, OC_PERR_INVAL, "%s: more than one COMMAND", q->what);
                return -1;
            }
            q->command = str;
            break;
        case OC_F_CWD:
            if (f.len >= OC_PROTO_MAX_PATH) {
                stream_error(s, OC_PERR_LIMIT, "%s: CWD longer than %u bytes", q->what,
                             OC_PROTO_MAX_PATH);
                return -1;
            }
            q->cwd = str;
            break;
        case OC_F_TIMEOUT_MS:
        case OC_F_STDIN:
            if (oc_proto_field_u32(&f, &v) < 0) {
                stream_error(s, OC_PERR_INVAL, "%s: integer field 0x%04x has size %u",
                             q->what, f.tag, f.len);
                return -1;
            }
            if (f.tag == OC_F_TIMEOUT_MS)
                q->timeout_ms = v;
            else
                q->want_stdin = v != 0;
            break;
        case OC_F_COLS:
        case OC_F_ROWS:
            if (pty_size_field(&f, &q->cols, &q->rows) < 0) {
                stream_error(s, OC_PERR_INVAL, "%s: %s must be a u32 from 1 to %u", q->what,
                             pty_field_name(f.tag), PTY_SIZE_MAX);
                return -1;
            }
            break;
        }
    }
    if (!q->cols != !q->rows) {
        stream_error(s, OC_PERR_INVAL, "%s: COLS and ROWS go together (both make a PTY "
                     "session)", q->what);
        return -1;
    }
    if ((q->argc > 0) == (q->command != NULL)) {
        stream_error(s, OC_PERR_INVAL, "%s: exactly one of ARG and COMMAND is required",
                     q->what);
        return -1;
    }
    return 0;
}

/* Builtins whose effect a separate program cannot have, or does not have in
 * the same way; a command naming one always goes through the shell. */
static const char *const shell_only[] = {
    ".", "alias", "bg", "break", "cd", "command", "continue", "eval", "exec", "exit",
    "export", "fg", "getopts", "hash", "jobs", "local", "read", "readonly", "return",
    "set", "shift", "source", "times", "trap", "type", "ulimit", "umask", "unalias",
    "unset", "wait", NULL,
};

/* A command line made only of plain words (no quoting, expansion,
 * redirection, globbing, separators or assignments) means the same run as
 * argv as under `sh -c`, and saves the guest a second exec, the most costly
 * part of an exec under TCG.  Splits a copy into q->argv and returns 1, or
 * returns 0 to leave it to the shell. */
static int split_simple(exec_req *q)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_./:,+@%-= ";
    size_t n = 0;
    char *save = NULL;

    if (strspn(q->command, plain) != strlen(q->command) || !(q->words = strdup(q->command)))
        return 0;
    for (char *w = strtok_r(q->words, " ", &save); w; w = strtok_r(NULL, " ", &save))
        q->argv[n++] = w;
    q->argv[n] = NULL;
    if (n == 0 || strchr(q->argv[0], '='))
        return 0; /* an assignment, or nothing: the shell's business */
    for (const char *const *b = shell_only; *b; b++)
        if (strcmp(q->argv[0], *b) == 0)
            return 0;
    q->argc = n;
    return 1;
}

static void use_shell(exec_req *q)
{
    q->argv[0] = "/bin/sh";
    q->argv[1] = "-c";
    q->argv[2] = q->command;
    q->argv[3] = NULL;
    q->argc = 3;
}

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
    exec_send_result(s, s->status, s->timed_out, s->t_exit_us - s->t_start_us);
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
    req_free(q);
    stream_free(s, 1);
    return -1;
}

int exec_spawn(agent_stream *s, const uint8_t *p, size_t len, int force_stdin, exec_child *c,
               char *msg, size_t msg_cap)
{
    exec_req q;
    memset(c, 0, sizeof *c);
    c->out_fd[0] = c->out_fd[1] = c->out_fd[2] = c->in_fd = -1;
    c->t_start_us = agent_now_us();
    if (req_parse(s, p, len, &q) < 0)
        return spawn_fail(s, &q);
    if (force_stdin)
        q.want_stdin = 1;
    c->cols = q.cols;
    c->rows = q.rows;
    if (q.cols && pty_env(&q) < 0) {
        stream_error(s, OC_PERR_LIMIT, "%s: out of memory", q.what);
        return spawn_fail(s, &q);
    }
    char *const *envp = q.tty_env ? q.tty_env : q.has_env ? q.envp : agent.default_env;

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
    } else {
        cwd = access("/root", X_OK) == 0 ? "/root" : "/";
    }

    char prog[OC_PROTO_MAX_PATH + 256];
    int rc;
    if (q.command) {
        /* A plain command whose program is not found still goes to the
         * shell, so that the message and status are the shell's. */
        if (!split_simple(&q)) {
            use_shell(&q);
        } else if (resolve(q.argv[0], envp, prog, sizeof prog) != 0) {
            use_shell(&q);
        }
    }
    rc = resolve(q.argv[0], envp, prog, sizeof prog);
    if (rc) {
        rc = unrunnable(rc, q.argv[0], rc == 127 ? "command not found" : "Permission denied", msg,
                        msg_cap);
        req_free(&q);
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
    rc = posix_spawn(&pid, prog, &fa, &at, q.argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close_fds(child_end, 3);
    if (rc != 0) {
        close_fds(c->out_fd, 3);
        close_fds(&c->in_fd, 1);
        rc = rc == ENOENT ? unrunnable(127, q.argv[0], "command not found", msg, msg_cap)
                          : unrunnable(126, q.argv[0], strerror(rc), msg, msg_cap);
        req_free(&q);
        return rc;
    }
    c->pid = pid;
    c->has_stdin = q.want_stdin;
    c->timeout_ms = q.timeout_ms;
    req_free(&q);
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
    flush_stdin(s);
}

void exec_cancel(agent_stream *s)
{
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
    int64_t next = 0;
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
