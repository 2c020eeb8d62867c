/* port.c: where the connection comes from: the virtio-serial port named
 * "oc.agent" in a guest, or a unix socket in test mode. */
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

static int try_open_port(void)
{
    DIR *d = opendir(PORTS_DIR);
    if (!d)
        return -1;
    struct dirent *de;
    int fd = -1;
    while (fd < 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[512], name[64] = "";
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
        if (strcmp(name, AGENT_PORT_NAME))
            continue;
        snprintf(path, sizeof path, "/dev/%s", de->d_name);
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    }
    closedir(d);
    return fd;
}

int port_open(void)
{
    /* virtio_console probes asynchronously after its module loads, and
     * devtmpfs creates the node a little later still: poll for both. */
    int64_t start = agent_now_ms();
    int warned = 0;
    for (;;) {
        int fd = try_open_port();
        if (fd >= 0)
            return fd;
        if (!warned && agent_now_ms() - start > 5000) {
            agent_log("waiting for the virtio-serial port '%s' (is the channel configured?)",
                      AGENT_PORT_NAME);
            warned = 1;
        }
        usleep(agent_now_ms() - start < 2000 ? 5000 : 100000);
    }
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
