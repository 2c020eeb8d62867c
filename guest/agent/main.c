/* main.c: oc-agent's entry point: picks the mode.
 *
 *   /init (PID 1 in the initramfs)   stage 1: load modules, mount the root, exec stage 2
 *   oc-agent --pid1                  stage 2: PID 1 on the real root, serve the ports
 *   oc-agent [--port]                serve the ports without PID 1 duties
 *   oc-agent --listen SOCKET         test mode: serve a unix socket as the current user
 *   oc-agent --misbehave MODE        tests: make the parent agent hostile (misbehave.c)
 *   oc-agent --as UID GID GROUPS ... a child that drops to a user, then execs (user.c)
 *   oc-agent --version
 */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: oc-agent [--pid1 | --port | --listen SOCKET | --misbehave MODE | "
                    "--version]\n");
    return 2;
}

/* Pipes created later must never land on 0-2, or dup2 in the child would
 * clobber them; PID 1 may start with none of them open. */
static void ensure_stdio(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int n = open("/dev/console", O_RDWR | O_NOCTTY);
        if (n < 0)
            n = open("/dev/null", O_RDWR);
        if (n >= 0 && n != fd) {
            dup2(n, fd);
            close(n);
        }
    }
}

static void setup_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPWR);
    sigaddset(&set, SIGUSR1); /* misbehave.c */
    sigprocmask(SIG_BLOCK, &set, NULL);
    agent.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
}

static void read_boot_id(void)
{
    snprintf(agent.boot_id, sizeof agent.boot_id, "unknown");
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, agent.boot_id, sizeof agent.boot_id - 1);
    close(fd);
    if (n <= 0) {
        snprintf(agent.boot_id, sizeof agent.boot_id, "unknown");
        return;
    }
    agent.boot_id[n] = '\0';
    agent.boot_id[strcspn(agent.boot_id, "\n")] = '\0';
}

int main(int argc, char **argv)
{
    const char *arg = argc > 1 ? argv[1] : NULL;
    if (arg && !strcmp(arg, "--version")) {
        printf("%s\n", AGENT_NAME);
        return 0;
    }
    if (arg && !strcmp(arg, "--as"))
        return user_as_main(argc, argv);
    if (arg && !strcmp(arg, "--misbehave"))
        return argc == 3 ? misbehave_trigger(argv[2]) : usage();
    if (getpid() == 1 && (!arg || strcmp(arg, "--pid1")) &&
        (access("/oc-initramfs", F_OK) == 0 || !strcmp(argv[0], "/init")))
        init_stage1();

    const char *sock = NULL;
    if (arg && !strcmp(arg, "--listen")) {
        if (argc != 3)
            return usage();
        sock = argv[2];
        agent.mode = MODE_LISTEN;
    } else if (!arg || !strcmp(arg, "--port") || !strcmp(arg, "--pid1")) {
        if (argc > 2)
            return usage();
        agent.mode = MODE_PORT;
        agent.pid1 = getpid() == 1;
    } else {
        return usage();
    }

    ensure_stdio();
    setup_signals();
    if (agent.pid1)
        pid1_setup();
    umask(022);
    agent_build_default_env();
    read_boot_id();
    conn_init();

    if (agent.mode == MODE_LISTEN) {
        agent.listen_fd = listen_socket(sock);
        if (agent.listen_fd < 0)
            return 1;
    } else {
        port_open_all();
    }
    loop_run();
}
