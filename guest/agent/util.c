/* util.c: small helpers shared by the agent's parts. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t agent_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t agent_now_ms(void)
{
    return agent_now_us() / 1000;
}

uint32_t agent_errno_code(int err)
{
    switch (err) {
    case ENOENT: return OC_PERR_NOENT;
    case EEXIST: return OC_PERR_EXIST;
    case ENOTDIR: return OC_PERR_NOTDIR;
    case EISDIR: return OC_PERR_ISDIR;
    case EACCES: case EPERM: case EROFS: return OC_PERR_ACCES;
    case ENOSPC: case EDQUOT: return OC_PERR_NOSPC;
    case EINVAL: case ELOOP: case EXDEV: return OC_PERR_INVAL;
    case ENOTEMPTY: return OC_PERR_NOTEMPTY;
    case ENAMETOOLONG: case EMFILE: case ENFILE: case E2BIG: case ENOMEM: return OC_PERR_LIMIT;
    case EBUSY: case ETXTBSY: return OC_PERR_BUSY;
    default: return OC_PERR_IO;
    }
}

int agent_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* The environment a command gets when the host sends no ENV at all.  As
 * PID 1 the kernel's environment is not meant for users, so it is replaced
 * by a fixed one; in test mode the agent's own environment is inherited, as
 * any process would. */
void agent_build_default_env(void)
{
    extern char **environ;
    if (!agent.pid1) {
        agent.default_env = environ;
        return;
    }
    static char *pid1_env[] = {
        "HOME=/root",
        "PATH=" AGENT_DEFAULT_PATH,
        "LANG=C.UTF-8",
        "TERM=xterm",
        NULL,
    };
    agent.default_env = pid1_env;
}
