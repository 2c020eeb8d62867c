/* test-network.c: the guest's network interface, and guest ports reached
 * from the host (docs/network.md), against a real guest.
 *
 * One sandbox serves the tests (boots are slow under TCG), run in order in
 * one process; a fork is made once, for the fork test.  The host side is a
 * small HTTP server of this test's own on 127.0.0.1; the guest side is
 * python3 from the base image: `http.server` and a WebSocket echo server
 * written here (the image has no WebSocket library). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

#define GUEST_HTTP_PORT 3000
#define GUEST_WS_PORT 3001
#define BIG_MB 50

static oc_context *ctx;
static oc_sandbox *sb;
static int host_fd = -1;      /* the host test server's listening socket */
static guint16 host_port;
static GThread *host_thread;
static const char HOST_BODY[] = "hello from the host\n";

/* ---- the host's test server: answers every request with HOST_BODY ---- */

static gpointer host_serve(gpointer data)
{
    (void)data;
    for (;;) {
        char req[4096];
        size_t got = 0;
        int fd = accept(host_fd, NULL, NULL);
        if (fd < 0)
            return NULL; /* shut down */
        while (got < sizeof req - 1 && !g_strstr_len(req, (gssize)got, "\r\n\r\n")) {
            ssize_t n = read(fd, req + got, sizeof req - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        g_autofree char *resp = g_strdup_printf(
            "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
            strlen(HOST_BODY), HOST_BODY);
        ssize_t w = write(fd, resp, strlen(resp));
        (void)w;
        close(fd);
    }
}

static int listen_any(guint16 *port)
{
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof in;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    *port = ntohs(in.sin_port);
    return fd;
}

/* ---- host-side clients of an exposed port ---- */

static int connect_host(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in in = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_ptr_nonnull(colon);
    in.sin_port = htons((guint16)atoi(colon + 1));
    g_autofree char *ip = g_strndup(addr, (gsize)(colon - addr));
    ck_assert_int_eq(inet_pton(AF_INET, ip, &in.sin_addr), 1);
    ck_assert_msg(connect(fd, (struct sockaddr *)&in, sizeof in) == 0, "connect %s: %s", addr,
                  g_strerror(errno));
    return fd;
}

static void send_all(int fd, const void *p, size_t len)
{
    ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
}

/* GETs path through addr; returns the body, its sha256 in *sum. */
static GBytes *http_get(const char *addr, const char *path, char **sum)
{
    int fd = connect_host(addr);
    g_autofree char *req = g_strdup_printf("GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    GByteArray *all = g_byte_array_new();
    guint8 buf[65536];
    ssize_t n;

    send_all(fd, req, strlen(req));
    while ((n = read(fd, buf, sizeof buf)) > 0)
        g_byte_array_append(all, buf, (guint)n);
    close(fd);
    const guint8 *end = (const guint8 *)g_strstr_len((const char *)all->data, all->len,
                                                     "\r\n\r\n");
    ck_assert_msg(end && g_str_has_prefix((const char *)all->data, "HTTP/1.0 200"),
                  "no 200 response from %s%s (%u bytes)", addr, path, all->len);
    gsize off = (gsize)(end + 4 - all->data);
    GBytes *body = g_bytes_new(all->data + off, all->len - off);
    if (sum)
        *sum = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, body);
    g_byte_array_unref(all);
    return body;
}

/* A WebSocket handshake, one masked text frame, and its echo. */
static void ws_echo(const char *addr, const char *text)
{
    static const char req[] =
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    int fd = connect_host(addr);
    char resp[1024];
    size_t got = 0, len = strlen(text);
    guint8 frame[256], mask[4] = { 1, 2, 3, 4 };

    send_all(fd, req, sizeof req - 1);
    while (!g_strstr_len(resp, (gssize)got, "\r\n\r\n")) {
        ssize_t n = read(fd, resp + got, sizeof resp - 1 - got);
        ck_assert_msg(n > 0, "the WebSocket handshake got no answer");
        got += (size_t)n;
    }
    resp[got] = '\0';
    ck_assert_msg(strstr(resp, " 101 "), "no 101: %s", resp);
    /* the accept value RFC 6455 gives for this key */
    ck_assert_ptr_nonnull(strstr(resp, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    ck_assert_uint_lt(len, 126);
    frame[0] = 0x81;
    frame[1] = (guint8)(0x80 | len);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        frame[6 + i] = (guint8)text[i] ^ mask[i % 4];
    send_all(fd, frame, 6 + len);
    got = 0;
    while (got < 2 + len) {
        ssize_t n = read(fd, frame + got, sizeof frame - got);
        ck_assert_msg(n > 0, "the echo did not come back");
        got += (size_t)n;
    }
    ck_assert_uint_eq(frame[0], 0x81);
    ck_assert_uint_eq(frame[1], len);
    ck_assert_int_eq(memcmp(frame + 2, text, len), 0);
    close(fd);
}

/* ---- the guest's servers ---- */

static const char WS_SERVER[] =
    "import base64, hashlib, socket\n"
    "G = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'\n"
    "def read_until(c, done):\n"
    "    d = b''\n"
    "    while not done(d):\n"
    "        more = c.recv(4096)\n"
    "        if not more: raise EOFError\n"
    "        d += more\n"
    "    return d\n"
    "def serve(c):\n"
    "    h = read_until(c, lambda d: b'\\r\\n\\r\\n' in d)\n"
    "    key = [l.split(b':', 1)[1].strip() for l in h.split(b'\\r\\n')\n"
    "           if l.lower().startswith(b'sec-websocket-key')][0]\n"
    "    acc = base64.b64encode(hashlib.sha1(key + G).digest())\n"
    "    c.sendall(b'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\n'\n"
    "              b'Connection: Upgrade\\r\\nSec-WebSocket-Accept: ' + acc + b'\\r\\n\\r\\n')\n"
    "    d = read_until(c, lambda d: len(d) >= 2 and len(d) >= 6 + (d[1] & 127))\n"
    "    n = d[1] & 127; m = d[2:6]\n"
    "    c.sendall(bytes([0x81, n]) + bytes(b ^ m[i % 4] for i, b in enumerate(d[6:6 + n])))\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 3001)); s.listen(8)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    try: serve(c)\n"
    "    except (EOFError, IndexError, OSError): pass\n"
    "    c.close()\n";

/* Starts a background session and waits until its port accepts. */
static void start_server(const char *command, int port)
{
    uint32_t id = 0;
    OK(oc_exec_start(&id, sb, command, NULL, &e_));
    g_autofree char *wait = g_strdup_printf(
        "for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/%d) 2>/dev/null && exit 0; "
        "sleep 0.2; done; exit 1", port);
    g_autofree char *cmd = g_strdup_printf("bash -c '%s'", wait);
    g_free(itest_sh(sb, cmd));
}

static void setup_all(void)
{
    host_fd = listen_any(&host_port);
    host_thread = g_thread_new("host-http", host_serve, NULL);
    itest_sandbox_open(&ctx, &sb, "test-network", NULL, 0);
}

static void teardown_all(void)
{
    itest_sandbox_close(ctx, sb);
    shutdown(host_fd, SHUT_RDWR);
    g_thread_join(host_thread);
    close(host_fd);
}

/* 1. The interface is up, and the host's loopback is reached through the
 *    gateway. */
static void check_outbound(oc_sandbox *s)
{
    oc_sandbox *saved = sb;
    sb = s;
    g_autofree char *addr = itest_sh(sb, "ip -4 addr show eth0");
    ck_assert_msg(strstr(addr, "inet 10.0.2.15/24"), "eth0 has no address: %s", addr);
    g_autofree char *route = itest_sh(sb, "ip route show default");
    ck_assert_msg(strstr(route, "via 10.0.2.2"), "no default route: %s", route);
    g_autofree char *cmd = g_strdup_printf("curl -sS -m 20 http://10.0.2.2:%u/x", host_port);
    g_autofree char *body = itest_sh(sb, cmd);
    ck_assert_str_eq(body, HOST_BODY);
    sb = saved;
}

START_TEST(test_interface_and_outbound)
{
    check_outbound(sb);
}
END_TEST

/* 2. Guest servers through exposed ports: a 50 MB download with the right
 *    hash, and a WebSocket echo. */
static char *big_sum;

START_TEST(test_exposed_ports)
{
    g_autofree char *http = NULL, *ws = NULL, *again = NULL, *sum = NULL;

    g_free(itest_sh(sb, "mkdir -p /srv && head -c " G_STRINGIFY(BIG_MB) "M /dev/urandom "
                        "> /srv/big && printf 'small\\n' > /srv/small"));
    big_sum = g_strstrip(itest_sh(sb, "sha256sum /srv/big | cut -d' ' -f1"));
    OK(oc_files_write(sb, "/srv/ws.py", WS_SERVER, sizeof WS_SERVER - 1, 0, &e_));
    start_server("cd /srv && exec python3 -m http.server 3000", GUEST_HTTP_PORT);
    start_server("exec python3 /srv/ws.py", GUEST_WS_PORT);

    OK(oc_sandbox_expose_port(sb, GUEST_HTTP_PORT, 0, 0, &http, &e_));
    ck_assert(g_str_has_prefix(http, "127.0.0.1:"));
    OK(oc_sandbox_expose_port(sb, GUEST_HTTP_PORT, 0, 0, &again, &e_));
    ck_assert_str_eq(http, again); /* the same port, not a second listener */
    g_autoptr(GBytes) small = http_get(http, "/small", NULL);
    ck_assert_uint_eq(g_bytes_get_size(small), 6);
    g_autoptr(GBytes) big = http_get(http, "/big", &sum);
    ck_assert_uint_eq(g_bytes_get_size(big), BIG_MB << 20);
    ck_assert_str_eq(sum, big_sum);

    OK(oc_sandbox_expose_port(sb, GUEST_WS_PORT, 0, 0, &ws, &e_));
    ws_echo(ws, "echo through the agent");
}
END_TEST

START_TEST(test_bad_ports)
{
    g_autofree char *addr = NULL;
    int fd;
    char c;

    FAILS(OC_EINVAL, oc_sandbox_expose_port(sb, 0, 0, 0, NULL, &err), "guest port 0");
    FAILS(OC_ENOTFOUND, oc_sandbox_unexpose_port(sb, 4999, 0, &err), "not exposed");
    /* nothing listens on 4999 in the guest: the connection is closed, and
     * the listener goes on serving */
    OK(oc_sandbox_expose_port(sb, 4999, 0, 0, &addr, &e_));
    fd = connect_host(addr);
    ck_assert_int_le(read(fd, &c, 1), 0);
    close(fd);
    /* a host port in use is refused with the port named */
    const char *colon = strrchr(addr, ':');
    guint16 taken = (guint16)atoi(colon + 1);
    FAILS(OC_EEXISTS, oc_sandbox_expose_port(sb, 4998, taken, 0, NULL, &err), "in use");
    OK(oc_sandbox_unexpose_port(sb, 4999, 0, &e_));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(taken),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_msg(connect(fd, (struct sockaddr *)&in, sizeof in) < 0,
                  "the unexposed port still accepts");
    close(fd);
}
END_TEST

/* 3 and 5. Hibernated, the sandbox is woken by a connection to its port; the
 *    interface and outbound connections work after the wake. */
START_TEST(test_wake_on_connection)
{
    g_autofree char *http = NULL;
    int kind = -1;

    OK(oc_sandbox_expose_port(sb, GUEST_HTTP_PORT, 0, 0, &http, &e_));
    OK(oc_sandbox_hibernate(sb, 0, &e_));
    ck_assert_int_eq(itest_state(sb), OC_STATE_HIBERNATED);
    g_autoptr(GBytes) small = http_get(http, "/small", NULL);
    ck_assert_uint_eq(g_bytes_get_size(small), 6);
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    OK(oc_sandbox_wake(sb, NULL, &kind, &e_));
    ck_assert_int_eq(kind, OC_WAKE_NONE); /* the connection had woken it */
    check_outbound(sb);
}
END_TEST

/* 3. A fork has its own interface and its own copy of the servers. */
START_TEST(test_fork)
{
    oc_checkpoint *cp = NULL;
    oc_sandbox *fork = NULL;
    g_autofree char *http = NULL, *sum = NULL;
    oc_fork_options fo = OC_FORK_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=test-network", NULL };

    OK(oc_checkpoint_create(&cp, sb, "net", 0, &e_));
    fo.metadata = meta;
    OK(oc_sandbox_create_from_checkpoint(&fork, ctx, oc_checkpoint_id(cp), &fo, &e_));
    check_outbound(fork);
    OK(oc_sandbox_expose_port(fork, GUEST_HTTP_PORT, 0, 0, &http, &e_));
    g_autoptr(GBytes) big = http_get(http, "/big", &sum);
    ck_assert_str_eq(sum, big_sum);
    OK(oc_sandbox_kill(fork, 0, &e_));
    oc_sandbox_unref(fork);
    OK(oc_checkpoint_delete(ctx, oc_checkpoint_id(cp), 0, &e_));
    oc_checkpoint_free(cp);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_interface_and_outbound, test_exposed_ports, test_bad_ports,
        test_wake_on_connection, test_fork,
    };
    return itest_main("network", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
