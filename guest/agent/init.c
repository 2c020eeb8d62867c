/* init.c: stage 1, run as /init from the initramfs: load the virtio and ext4
 * modules, mount the root disk, copy ourselves onto it and become PID 1
 * there (`/run/oc-agent --pid1`). */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ROOT_WAIT_MS 10000

/* PID 1 must never exit (the kernel would panic with a message that hides
 * ours), so a failed boot says why on the console and powers off, which the
 * host sees as the domain stopping. */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    agent_log("boot failed: %s", msg);
    sync();
    sleep(1);
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static void console_stdio(void)
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0)
        return;
    /* The initramfs has no /dev/console node, so the kernel could not give
     * us stdio; now devtmpfs has one. */
    for (int i = 0; i < 3; i++)
        if (i != fd)
            dup2(fd, i);
    if (fd > 2)
        close(fd);
}

static void cmdline_get(const char *cmdline, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *t = cmdline; *t;) {
        size_t len = strcspn(t, " \n");
        if (len > kl && !strncmp(t, key, kl) && t[kl] == '=') {
            snprintf(out, cap, "%.*s", (int)(len - kl - 1), t + kl + 1);
            return;
        }
        t += len;
        t += strspn(t, " \n");
    }
}

static void load_modules(void)
{
    char list[8192];
    int fd = open("/modules/order", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        agent_log("no /modules/order; loading no modules");
        return;
    }
    ssize_t n = read(fd, list, sizeof list - 1);
    close(fd);
    if (n < 0)
        n = 0;
    list[n] = '\0';
    for (char *name = strtok(list, "\n"); name; name = strtok(NULL, "\n")) {
        name += strspn(name, " \t");
        if (!*name || *name == '#')
            continue;
        char path[512];
        snprintf(path, sizeof path, "/modules/%s", name);
        int mfd = open(path, O_RDONLY | O_CLOEXEC);
        if (mfd < 0) {
            agent_log("module %s: %s", name, strerror(errno));
            continue;
        }
        if (syscall(SYS_finit_module, mfd, "", 0) < 0 && errno != EEXIST)
            agent_log("module %s: %s", name, strerror(errno));
        close(mfd);
        unlink(path); /* the initramfs is RAM: free it as we go */
    }
    unlink("/modules/order");
    rmdir("/modules");
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    if (n < 0)
        rc = -1;
    if (fchmod(out, mode) < 0)
        rc = -1;
    close(in);
    if (close(out) < 0)
        rc = -1;
    return rc;
}

void init_stage1(void)
{
    mkdir("/dev", 0755);
    if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") < 0 && errno != EBUSY)
        fail("mount devtmpfs on /dev: %s", strerror(errno));
    console_stdio();
    mkdir("/proc", 0555);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        fail("mount /proc: %s", strerror(errno));

    char cmdline[4096] = "";
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
        cmdline[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    char root[256] = "/dev/vda", fstype[64] = "ext4", flags[256] = "";
    cmdline_get(cmdline, "root", root, sizeof root);
    cmdline_get(cmdline, "rootfstype", fstype, sizeof fstype);
    cmdline_get(cmdline, "rootflags", flags, sizeof flags);

    load_modules();

    /* No udev: devtmpfs creates the node once virtio_blk has probed. */
    int64_t start = agent_now_ms();
    struct stat st;
    while (stat(root, &st) < 0) {
        if (agent_now_ms() - start > ROOT_WAIT_MS)
            fail("root device %s did not appear within %d s", root, ROOT_WAIT_MS / 1000);
        usleep(5000);
    }

    mkdir("/newroot", 0755);
    if (mount(root, "/newroot", fstype, 0, flags[0] ? flags : NULL) < 0)
        fail("mount %s (%s) on /newroot: %s", root, fstype, strerror(errno));
    mkdir("/newroot/run", 0755);
    if (mount("tmpfs", "/newroot/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        fail("mount tmpfs on /newroot/run: %s", strerror(errno));
    /* The agent runs from a copy in /run so that it does not depend on the
     * root filesystem's copy (if any) and the initramfs can be freed. */
    if (copy_file("/init", "/newroot/run/oc-agent", 0755) < 0)
        fail("copy /init to /newroot/run/oc-agent: %s", strerror(errno));
    mkdir("/newroot/dev", 0755);
    if (mount("/dev", "/newroot/dev", NULL, MS_MOVE, NULL) < 0)
        fail("move /dev to /newroot/dev: %s", strerror(errno));
    umount2("/proc", MNT_DETACH);
    unlink("/init");
    unlink("/oc-initramfs");

    if (chdir("/newroot") < 0)
        fail("chdir /newroot: %s", strerror(errno));
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
        fail("move /newroot to /: %s", strerror(errno));
    if (chroot(".") < 0 || chdir("/") < 0)
        fail("chroot into the new root: %s", strerror(errno));
    char *const args[] = { "oc-agent", "--pid1", NULL };
    execv("/run/oc-agent", args);
    fail("exec /run/oc-agent: %s", strerror(errno));
}
