/* pty.c: the terminal of a PTY session (docs/protocol.md, "Sessions"):
 * opening it for exec_spawn, its size, and the character that stands for
 * the host's EOF. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int pty_resize(int master, uint32_t cols, uint32_t rows)
{
    /* On the master this sets the slave's size, and the kernel sends
     * SIGWINCH to the terminal's foreground process group. */
    struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
    return ioctl(master, TIOCSWINSZ, &ws);
}

uint8_t pty_eof_char(int master)
{
    /* Termios requests on a master act on its slave, whose settings the
     * program may have changed. */
    struct termios t;
    if (tcgetattr(master, &t) < 0)
        return 4;
    return (uint8_t)t.c_cc[VEOF];
}

int pty_open(uint32_t cols, uint32_t rows, posix_spawn_file_actions_t *fa)
{
    char path[64];
    struct termios t;
    int err;
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -1;
    if (grantpt(m) < 0 || unlockpt(m) < 0 || pty_resize(m, cols, rows) < 0 ||
        agent_set_nonblock(m) < 0) {
        err = errno;
        goto fail;
    }
    err = ptsname_r(m, path, sizeof path);
    if (err)
        goto fail;
    /* The guest's locale is UTF-8: with IUTF8 the line editor erases a
     * whole character, not its last byte.  Best effort. */
    if (tcgetattr(m, &t) == 0) {
        t.c_iflag |= IUTF8;
        tcsetattr(m, TCSANOW, &t);
    }
    /* The agent never opens the slave itself: the master reads EIO once the
     * last slave descriptor closes, which is how the output ends.  The child
     * is a session leader without a terminal when the file actions run
     * (POSIX_SPAWN_SETSID comes first), and such a process that opens a
     * terminal without O_NOCTTY gets it as its controlling terminal:
     * TIOCSCTTY's effect, which posix_spawn has no action for. */
    posix_spawn_file_actions_addopen(fa, 0, path, O_RDWR, 0);
    posix_spawn_file_actions_adddup2(fa, 0, 1);
    posix_spawn_file_actions_adddup2(fa, 0, 2);
    return m;
fail:
    close(m);
    errno = err;
    return -1;
}
