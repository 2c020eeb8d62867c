/* net.c: the guest's network interface, brought up at boot by PID 1.
 *
 * The host gives every sandbox one virtio NIC on a user-mode network
 * (docs/network.md): the addresses are fixed by the host side, so the agent
 * sets them itself with a few ioctls, with no DHCP client and nothing from
 * the image.  A sandbox without the NIC (a checkpoint taken before sandboxes
 * had one) simply has no network. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The user-mode network's fixed plan: the guest, its gateway (which is the
 * host: a connection to it reaches the host's loopback) and the DNS proxy. */
#define NET_GUEST   "10.0.2.15"
#define NET_MASK    "255.255.255.0"
#define NET_GATEWAY "10.0.2.2"
#define NET_DNS     "10.0.2.3"
#define NET_RESOLV  "/run/oc-resolv.conf"

static void set_in(struct sockaddr *sa, const char *addr)
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;

    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &in->sin_addr);
}

/* The first interface that is not loopback: the kernel names the virtio NIC
 * eth0, and there is no udev to rename it. */
static int find_nic(char *name, size_t cap)
{
    struct if_nameindex *all = if_nameindex(), *i;
    int found = -1;

    if (!all)
        return -1;
    for (i = all; i->if_index; i++) {
        if (strcmp(i->if_name, "lo") != 0) {
            snprintf(name, cap, "%s", i->if_name);
            found = 0;
            break;
        }
    }
    if_freenameindex(all);
    return found;
}

static int nic_error(const char *nic, const char *what)
{
    agent_log("%s: cannot %s: %s", nic, what, strerror(errno));
    return -1;
}

static int configure(int fd, const char *nic)
{
    struct ifreq ifr;
    struct rtentry rt;

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", nic);
    set_in(&ifr.ifr_addr, NET_GUEST);
    if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
        return nic_error(nic, "set its address " NET_GUEST);
    set_in(&ifr.ifr_netmask, NET_MASK);
    if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
        return nic_error(nic, "set its netmask");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return nic_error(nic, "read its flags");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return nic_error(nic, "bring it up");

    memset(&rt, 0, sizeof rt);
    set_in(&rt.rt_dst, "0.0.0.0");
    set_in(&rt.rt_genmask, "0.0.0.0");
    set_in(&rt.rt_gateway, NET_GATEWAY);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)nic;
    if (ioctl(fd, SIOCADDRT, &rt) < 0 && errno != EEXIST)
        return nic_error(nic, "add the default route via " NET_GATEWAY);
    return 0;
}

/* The DNS proxy goes into a file on /run, mounted over the image's
 * /etc/resolv.conf: the image's disk is not written, so a template build
 * does not capture it, and an image whose resolv.conf is a symlink (to a
 * resolver daemon's file) gets the mount on the file it points to. */
static void point_dns(void)
{
    static const char conf[] = "nameserver " NET_DNS "\n";
    struct stat st;
    int fd = open(NET_RESOLV, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0 || write(fd, conf, sizeof conf - 1) != (ssize_t)(sizeof conf - 1)) {
        agent_log("cannot write %s: %s", NET_RESOLV, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    if (stat("/etc/resolv.conf", &st) < 0) {
        fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
    }
    if (mount(NET_RESOLV, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
        agent_log("cannot mount %s on /etc/resolv.conf: %s", NET_RESOLV, strerror(errno));
}

void net_setup(void)
{
    char nic[IF_NAMESIZE];
    int fd;

    if (find_nic(nic, sizeof nic) < 0)
        return; /* no NIC: a sandbox without a network */
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        agent_log("no network: socket: %s", strerror(errno));
        return;
    }
    if (configure(fd, nic) == 0)
        point_dns();
    close(fd);
}
