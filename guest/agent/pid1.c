/* pid1.c: PID 1 duties on the real root (stage 2): the mounts a Linux
 * userland expects, lo and the NIC (net.c), the hostname, and a clean power-off. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void mount_fs(const char *src, const char *dir, const char *type, unsigned long flags,
                     const char *data)
{
    mkdir(dir, 0755);
    if (mount(src, dir, type, flags, data) < 0 && errno != EBUSY)
        agent_log("mount %s on %s: %s", type, dir, strerror(errno));
}

static int mounted(const char *probe)
{
    return access(probe, F_OK) == 0;
}

static void bring_up_lo(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            agent_log("cannot bring up lo: %s", strerror(errno));
    }
    close(fd);
}

/* The value of `key=` on the kernel command line, or NULL. */
static char *cmdline_value(const char *key, char *out, size_t cap)
{
    char buf[4096];
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    size_t kl = strlen(key);
    for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n")) {
        if (!strncmp(t, key, kl) && t[kl] == '=') {
            snprintf(out, cap, "%s", t + kl + 1);
            return out;
        }
    }
    return NULL;
}

void pid1_setup(void)
{
    const unsigned long safe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (!mounted("/proc/self"))
        mount_fs("proc", "/proc", "proc", safe, NULL);
    if (!mounted("/sys/kernel"))
        mount_fs("sysfs", "/sys", "sysfs", safe, NULL);
    if (!mounted("/dev/null"))
        mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,gid=5,mode=620");
    unlink("/dev/ptmx");
    if (symlink("pts/ptmx", "/dev/ptmx") < 0)
        agent_log("cannot link /dev/ptmx: %s", strerror(errno));
    mount_fs("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_fs("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    if (!mounted("/run/oc-agent"))
        mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    /* devtmpfs does not make these; shells and tools expect them. */
    if (symlink("/proc/self/fd", "/dev/fd") < 0 && errno != EEXIST)
        agent_log("cannot link /dev/fd: %s", strerror(errno));
    symlink("/proc/self/fd/0", "/dev/stdin");
    symlink("/proc/self/fd/1", "/dev/stdout");
    symlink("/proc/self/fd/2", "/dev/stderr");

    bring_up_lo();
    net_setup();
    char id[256];
    if (cmdline_value("oc.id", id, sizeof id)) {
        if (sethostname(id, strlen(id)) < 0)
            agent_log("cannot set hostname %s: %s", id, strerror(errno));
        snprintf(agent.host_name, sizeof agent.host_name, "%s", id);
    }

    /* Ctrl-Alt-Del (virsh send-key, ACPI on some machines) becomes SIGINT,
     * which shuts down cleanly like SIGTERM. */
    reboot(RB_DISABLE_CAD);

    clearenv();
    setenv("HOME", "/root", 1);
    setenv("PATH", AGENT_DEFAULT_PATH, 1);
    setenv("LANG", "C.UTF-8", 1);
}

/* Waits up to ms for every process but us to be reaped. */
static int reap_all(int ms)
{
    int64_t end = agent_now_ms() + ms;
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
            return 0;
        if (agent_now_ms() >= end)
            return -1;
        usleep(10000);
    }
}

void pid1_shutdown(void)
{
    agent_log("shutting down");
    streams_cancel_all();
    kill(-1, SIGTERM);
    kill(-1, SIGCONT);
    if (reap_all(2000) < 0) {
        kill(-1, SIGKILL);
        reap_all(1000);
    }
    sync();
    umount2("/tmp", MNT_DETACH);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
        agent_log("cannot remount / read-only: %s", strerror(errno));
    sync();
    reboot(RB_POWER_OFF);
    /* PID 1 must never return: the kernel would panic. */
    for (;;)
        pause();
}
