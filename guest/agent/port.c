/* port.c: where the connections come from: the virtio-serial ports named
 * "oc.agent", "oc.agent.1", ... in a guest, or a unix socket in test mode. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PORTS_DIR "/sys/class/virtio-ports"

/* Port i's name: "oc.agent", then "oc.agent.1" and on. */
static void port_name(int i, char *buf, size_t cap)
{
    if (i == 0)
        snprintf(buf, cap, "%s", AGENT_PORT_NAME);
    else
        snprintf(buf, cap, "%s.%d", AGENT_PORT_NAME, i);
}

/* Starts serving each of our ports that exists and is not served yet, with
 * no host until the loop sees one.  Returns how many are still missing. */
static int open_ports(void)
{
    int missing = 0;
    for (int i = 0; i < AGENT_MAX_CONNS; i++)
        missing += agent.conns[i].fd < 0;
    DIR *d = opendir(PORTS_DIR);
    if (!d)
        return missing;
    struct dirent *de;
    while (missing && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[512], name[64] = "", want[64];
        snprintf(path, sizeof path, PORTS_DIR "/%s/name", de->d_name);
        int nf = open(path, O_RDONLY | O_CLOEXEC);
        if (nf < 0)
            continue;
        ssize_t n = read(nf, name, sizeof name - 1);
        close(nf);
        if (n <= 0)
            continue;
        name[n] = '\0';
        name[strcspn(name, "\n")] = '\0';
        for (int i = 0; i < AGENT_MAX_CONNS; i++) {
            agent_conn *c = &agent.conns[i];
            port_name(i, want, sizeof want);
            if (c->fd >= 0 || strcmp(name, want))
                continue;
            snprintf(path, sizeof path, "/dev/%s", de->d_name);
            int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
            if (fd < 0)
                break;
            conn_open(c, fd);
            c->hup = 1; /* unknown until checked: the loop looks at once */
            missing--;
            break;
        }
    }
    closedir(d);
    return missing;
}

int port_scan(void)
{
    return open_ports() > 0;
}

void port_open_all(void)
{
    /* virtio_console probes asynchronously after its module loads, and
     * devtmpfs creates the node a little later still: poll for both.  The
     * other ports may come later than the first; the loop looks for them
     * a while longer (port_scan). */
    int64_t start = agent_now_ms();
    int warned = 0;
    for (;;) {
        open_ports();
        if (agent.conns[0].fd >= 0)
            break;
        if (!warned && agent_now_ms() - start > 5000) {
            agent_log("waiting for the virtio-serial port '%s' (is the channel configured?)",
                      AGENT_PORT_NAME);
            warned = 1;
        }
        usleep(agent_now_ms() - start < 2000 ? 5000 : 100000);
    }
    agent.hup_until_ms = 0;
    agent.port_scan_until_ms = agent_now_ms() + AGENT_PORT_SCAN_MS;
}

int listen_socket(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        agent_log("socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        agent_log("socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0) {
        agent_log("cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
