/* test-network-policy.c: a sandbox's egress policy, from its guest and
 * around its real QEMU process.  The guest's curl reaches the one host
 * server allowOut names and not another loopback port; under blockAll it
 * fails at once, also after root in the guest rewrote its routes.  Created
 * with a policy, the sandbox's QEMU runs in the policy's cgroup with the
 * programs attached before the guest runs; a policy changed at runtime
 * reaches the kernel; hibernate and wake put the new QEMU back under the
 * policy the record holds; kill removes the cgroup. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "net/egress.h"

static oc_context *ctx;
static oc_sandbox *sb;
static const char *sb_id;
static char *cgroup;
static GMutex log_lock;
static GString *debug_log;
static GPid server_pid;       /* the host's test HTTP server (python3) */
static guint16 server_port;   /* where it listens on 127.0.0.1 */
static int silent_fd = -1;    /* a loopback port that listens and never answers */
static guint16 silent_port;
static char *allowed;         /* "10.0.2.2:<server_port>" */
static const char SERVER_BODY[] = "egress ok\n";

static void on_log(int level, const char *message, void *user_data)
{
    g_mutex_lock(&log_lock);
    if (strstr(message, "egress policy") || strstr(message, "woken"))
        g_string_append_printf(debug_log, "# %s\n", message);
    g_mutex_unlock(&log_lock);
}

static const char *state_dir(void)
{
    const char *s = g_getenv("OC_STATE_DIR");
    return s && *s ? s : "/var/lib/opencomputer";
}

static pid_t qemu_pid_of(const char *id)
{
    g_autofree char *path = g_strdup_printf("/run/libvirt/qemu/%s.pid", id);
    g_autofree char *text = NULL;

    ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "no pid file %s", path);
    return (pid_t)atoi(text);
}

/* The cgroup v2 path of pid, relative to the mount. */
static char *cgroup_of(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int)pid);
    g_autofree char *text = NULL;
    char *line;

    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "0::");
    ck_assert_ptr_nonnull(line);
    return g_strndup(line + 3, strcspn(line + 3, "\n"));
}

static pid_t qemu_pid(void)
{
    return qemu_pid_of(sb_id);
}

/* The QEMU of sandbox id runs in cg, which has the policy's programs. */
static void assert_in(const char *id, const char *cg, const char *when)
{
    pid_t pid = qemu_pid_of(id);
    g_autofree char *in = cgroup_of(pid);
    GError *err = NULL;

    ck_assert_msg(g_str_has_suffix(cg, in) && strstr(in, "/opencomputer/"),
                  "%s: QEMU (pid %d) is in cgroup %s, not %s", when, (int)pid, in, cg);
    ck_assert_int_eq(net_egress_hooks_attached(cg, &err), NET_EGRESS_HOOKS);
}

static void assert_under_policy(const char *when)
{
    assert_in(sb_id, cgroup, when);
}

static gboolean kernel_has(const char *rule)
{
    GError *err = NULL;
    g_autoptr(GPtrArray) rules = net_egress_read_rules(cgroup, &err);

    ck_assert_msg(rules, "%s", err ? err->message : "");
    for (guint i = 0; i < rules->len; i++)
        if (g_str_equal(rules->pdata[i], rule))
            return TRUE;
    return FALSE;
}

/* The host's test server: python3's http.server on a free loopback port,
 * answering SERVER_BODY; its port is the first line it prints. */
static void start_server(void)
{
    static const char script[] =
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        b = b'egress ok\\n'\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(b)))\n"
        "        self.end_headers(); self.wfile.write(b)\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "print(s.server_address[1], flush=True)\n"
        "s.serve_forever()\n";
    const char *argv[] = { "python3", "-c", script, NULL };
    GError *err = NULL;
    char line[32] = "";
    int out_fd;
    FILE *out;

    if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                  &server_pid, NULL, &out_fd, NULL, &err)) {
        fprintf(stderr, "cannot start the test server: %s\n", err->message);
        exit(1);
    }
    out = fdopen(out_fd, "r");
    if (!fgets(line, sizeof line, out) || !(server_port = (guint16)atoi(line))) {
        fprintf(stderr, "the test server did not say its port\n");
        exit(1);
    }
    fclose(out);
}

static void start_silent_port(void)
{
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof in;

    silent_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (silent_fd < 0 || bind(silent_fd, (struct sockaddr *)&in, sizeof in) < 0 ||
        listen(silent_fd, 16) < 0 || getsockname(silent_fd, (struct sockaddr *)&in, &len) < 0) {
        fprintf(stderr, "cannot listen on the loopback: %s\n", g_strerror(errno));
        exit(1);
    }
    silent_port = ntohs(in.sin_port);
}

/* Runs curl in the guest against the host's port: its exit code, and how
 * long it took in *ms.  Unanswered, it would give up after 20 s. */
static int guest_curl(guint16 port, char **body, int *ms)
{
    g_autofree char *cmd = g_strdup_printf(
        "t0=$(date +%%s%%N); curl -sS -m 20 -o /tmp/body http://10.0.2.2:%u/x 2>/tmp/err; "
        "rc=$?; t1=$(date +%%s%%N); echo $rc $(( (t1 - t0) / 1000000 ))", port);
    g_autofree char *out = itest_sh(sb, cmd);
    int rc = -1;

    ck_assert_int_eq(sscanf(out, "%d %d", &rc, ms), 2);
    if (body)
        *body = itest_sh(sb, "cat /tmp/body 2>/dev/null; cat /tmp/err");
    return rc;
}

/* curl's exit code when it cannot connect; a port that accepted and never
 * answered would give 28 (timed out) instead. */
#define CURL_COULDNT_CONNECT 7
/* "at once": well under curl's own timeout, on a busy TCG guest */
#define FAST_MS 3000

static void assert_guest_refused(guint16 port, const char *when)
{
    g_autofree char *err = NULL;
    int ms = 0, rc = guest_curl(port, &err, &ms);

    ck_assert_msg(rc == CURL_COULDNT_CONNECT, "%s: curl to port %u exited %d (%s), not %d",
                  when, port, rc, err, CURL_COULDNT_CONNECT);
    ck_assert_msg(ms < FAST_MS, "%s: refused only after %d ms", when, ms);
    printf("# %s: port %u refused in %d ms\n", when, port, ms);
}

static void assert_guest_reaches_server(const char *when)
{
    g_autofree char *body = NULL;
    int ms = 0, rc = guest_curl(server_port, &body, &ms);

    ck_assert_msg(rc == 0, "%s: curl to the allowed server exited %d: %s", when, rc, body);
    ck_assert_str_eq(body, SERVER_BODY);
}

static void setup_all(void)
{
    oc_error *err = NULL;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=test-network", NULL };
    const char *allow[] = { NULL, NULL };
    oc_network_policy net = OC_NETWORK_POLICY_INIT;
    gint64 t0;

    start_server();
    start_silent_port();
    allowed = g_strdup_printf("10.0.2.2:%u", server_port);
    allow[0] = allowed;
    debug_log = g_string_new(NULL);
    oc_set_log_handler(on_log, NULL, NULL);
    if (oc_context_new(&ctx, NULL, &err) < 0) {
        fprintf(stderr, "cannot open a context: %s\n", oc_error_message(err));
        exit(1);
    }
    net.allow_out = allow;
    o.metadata = meta;
    o.memory_mb = 256;
    o.timeout_s = 0;
    o.network = &net;
    t0 = g_get_monotonic_time();
    if (oc_sandbox_create(&sb, ctx, &o, &err) < 0) {
        fprintf(stderr, "cannot create the test sandbox: %s\n", oc_error_message(err));
        exit(1);
    }
    printf("# created under a policy in %.2f s\n", (g_get_monotonic_time() - t0) / 1e6);
    sb_id = oc_sandbox_id(sb);
    cgroup = net_egress_cgroup(state_dir(), sb_id, NULL);
    ck_assert_ptr_nonnull(cgroup);
}

static void teardown_all(void)
{
    oc_set_log_handler(NULL, NULL, NULL);
    if (sb)
        oc_sandbox_kill(sb, 0, NULL);
    oc_sandbox_unref(sb);
    oc_context_unref(ctx);
    g_free(cgroup);
    if (server_pid) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    if (silent_fd >= 0)
        close(silent_fd);
    g_free(allowed);
}

START_TEST(test_created_under_policy)
{
    oc_sandbox_info *info = NULL;
    g_autofree char *out = NULL;

    g_autofree char *rule = g_strdup_printf("allow 127.0.0.0/8:%u", server_port);

    assert_under_policy("after create");
    ck_assert(kernel_has(rule));
    ck_assert(kernel_has("deny 0.0.0.0/0"));
    ck_assert(kernel_has("deny other"));
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_uint_eq(oc_sandbox_info_allow_out_count(info), 1);
    ck_assert_str_eq(oc_sandbox_info_allow_out_at(info, 0), allowed);
    ck_assert_ptr_null(oc_sandbox_info_allow_out_at(info, 1));
    ck_assert_int_eq(oc_sandbox_info_block_all(info), 0);
    oc_sandbox_info_free(info);
    /* it was resumed: the guest runs */
    out = itest_sh(sb, "echo up");
    ck_assert_str_eq(out, "up\n");
}
END_TEST

/* Issue test 4: allowOut naming only the test server: it works, another
 * loopback port does not. */
START_TEST(test_guest_allow_out)
{
    assert_guest_reaches_server("allowOut");
    assert_guest_refused(silent_port, "allowOut, another port");
}
END_TEST

/* Issue test 4: blockAll fails fast, and root in the guest changing its
 * routes and address does not get around it. */
START_TEST(test_guest_block_all)
{
    oc_network_policy net = OC_NETWORK_POLICY_INIT;
    g_autofree char *routes = NULL;

    net.block_all = 1;
    OK(oc_sandbox_set_network(sb, &net, 0, &e_));
    assert_guest_refused(server_port, "blockAll");
    routes = itest_sh(sb, "ip route replace default dev eth0 && "
                          "ip addr add 10.0.2.99/24 dev eth0 && ip route show default");
    ck_assert_msg(strstr(routes, "dev eth0") && !strstr(routes, "via"), "%s", routes);
    assert_guest_refused(server_port, "blockAll, routes rewritten by root");
    g_free(itest_sh(sb, "ip addr del 10.0.2.99/24 dev eth0 && "
                        "ip route replace default via 10.0.2.2 dev eth0"));
    /* back to the allow list: the same connection goes through again */
    net.block_all = 0;
    net.allow_out = (const char *const[]){ allowed, NULL };
    OK(oc_sandbox_set_network(sb, &net, 0, &e_));
    assert_guest_reaches_server("allowOut again");
}
END_TEST

START_TEST(test_set_at_runtime)
{
    oc_network_policy net = OC_NETWORK_POLICY_INIT;
    const char *bad[] = { "10.0.0.0/40", NULL };
    oc_sandbox *other = NULL;
    oc_sandbox_info *info = NULL;
    g_autofree char *rule = g_strdup_printf("allow 127.0.0.0/8:%u", server_port);

    ck_assert(kernel_has(rule));
    net.block_all = 1;
    /* through a second handle, as another process would */
    OK(oc_sandbox_connect(&other, ctx, sb_id, &e_));
    OK(oc_sandbox_set_network(other, &net, 0, &e_));
    ck_assert(kernel_has("deny 0.0.0.0/0"));
    ck_assert(!kernel_has(rule));
    assert_under_policy("after a change");
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_int_eq(oc_sandbox_info_block_all(info), 1);
    ck_assert_uint_eq(oc_sandbox_info_allow_out_count(info), 0);
    oc_sandbox_info_free(info);
    /* a bad entry changes nothing */
    net.allow_out = bad;
    FAILS(OC_EINVAL, oc_sandbox_set_network(sb, &net, 0, &err), "10.0.0.0/40");
    FAILS(OC_EINVAL, oc_sandbox_set_network(sb, NULL, 1, &err), "flags");
    ck_assert(kernel_has("deny 0.0.0.0/0"));
    oc_sandbox_unref(other);
}
END_TEST

static double wake_s(void)
{
    int kind = 0;
    gint64 t0 = g_get_monotonic_time();

    OK(oc_sandbox_wake(sb, NULL, &kind, &e_));
    ck_assert_int_eq(kind, OC_WAKE_RESTORED);
    return (g_get_monotonic_time() - t0) / 1e6;
}

START_TEST(test_hibernate_and_wake)
{
    pid_t before = qemu_pid(), after;
    double with_policy, without;
    g_autofree char *out = NULL;

    OK(oc_sandbox_hibernate(sb, 0, &e_));
    ck_assert_int_eq(itest_state(sb), OC_STATE_HIBERNATED);
    /* the cgroup outlives QEMU, with its programs */
    ck_assert_int_eq(net_egress_hooks_attached(cgroup, NULL), NET_EGRESS_HOOKS);
    with_policy = wake_s();
    after = qemu_pid();
    ck_assert_int_ne(before, after);
    assert_under_policy("after wake");
    ck_assert(kernel_has("deny 0.0.0.0/0")); /* the record's policy, set at runtime */
    out = itest_sh(sb, "echo back");
    ck_assert_str_eq(out, "back\n");
    assert_guest_refused(server_port, "blockAll after wake");

    /* the same without a policy, for the cost of the paused start */
    OK(oc_sandbox_set_network(sb, NULL, 0, &e_));
    ck_assert(kernel_has("allow 0.0.0.0/0")); /* QEMU stays in it, all allowed */
    ck_assert(kernel_has("allow other"));
    OK(oc_sandbox_hibernate(sb, 0, &e_));
    without = wake_s();
    g_autofree char *free_in = cgroup_of(qemu_pid());
    ck_assert_msg(!g_str_has_suffix(cgroup, free_in), "QEMU without a policy is in %s", free_in);
    printf("# wake with a policy %.2f s, without %.2f s\n", with_policy, without);
    g_mutex_lock(&log_lock);
    printf("%s", debug_log->str);
    g_mutex_unlock(&log_lock);
}
END_TEST

static int fork_block_all(oc_sandbox *fork)
{
    oc_sandbox_info *info = NULL;
    int block;

    OK(oc_sandbox_info_get(&info, fork, &e_));
    block = oc_sandbox_info_block_all(info);
    oc_sandbox_info_free(info);
    return block;
}

/* Restore in place and fork start from a save image (virt_restore_as). */
START_TEST(test_checkpoint_paths)
{
    oc_network_policy net = OC_NETWORK_POLICY_INIT;
    oc_fork_options fo = OC_FORK_OPTIONS_INIT;
    oc_checkpoint *cp = NULL;
    oc_sandbox *fork = NULL;
    g_autofree char *fork_cgroup = NULL, *out = NULL;
    pid_t before;

    net.block_all = 1;
    OK(oc_sandbox_set_network(sb, &net, 0, &e_));
    OK(oc_checkpoint_create(&cp, sb, "network", 0, &e_));
    before = qemu_pid();
    OK(oc_sandbox_restore_checkpoint(sb, oc_checkpoint_id(cp), 0, &e_));
    ck_assert_int_ne(qemu_pid(), before);
    assert_under_policy("after a restore in place");
    out = itest_sh(sb, "echo restored");

    /* no policy given: a fork is a copy, and keeps the checkpointed one's */
    OK(oc_sandbox_create_from_checkpoint(&fork, ctx, oc_checkpoint_id(cp), &fo, &e_));
    ck_assert_int_eq(fork_block_all(fork), 1);
    fork_cgroup = net_egress_cgroup(state_dir(), oc_sandbox_id(fork), NULL);
    assert_in(oc_sandbox_id(fork), fork_cgroup, "a fork that inherits a policy");
    g_free(out);
    out = itest_sh(fork, "echo forked");
    OK(oc_sandbox_kill(fork, 0, &e_));
    ck_assert_msg(!g_file_test(fork_cgroup, G_FILE_TEST_EXISTS), "%s is left", fork_cgroup);
    oc_sandbox_unref(fork);

    /* an empty policy given: the fork is not restricted */
    oc_network_policy none = OC_NETWORK_POLICY_INIT;
    fo.network = &none;
    OK(oc_sandbox_create_from_checkpoint(&fork, ctx, oc_checkpoint_id(cp), &fo, &e_));
    ck_assert_int_eq(fork_block_all(fork), 0);
    OK(oc_sandbox_kill(fork, 0, &e_));
    oc_sandbox_unref(fork);
    OK(oc_checkpoint_delete(ctx, oc_checkpoint_id(cp), 0, &e_));
    oc_checkpoint_free(cp);
}
END_TEST

START_TEST(test_kill_removes_cgroup)
{
    oc_network_policy net = OC_NETWORK_POLICY_INIT;
    const char *deny[] = { "10.0.2.2", NULL };

    net.deny_out = deny;
    OK(oc_sandbox_set_network(sb, &net, 0, &e_)); /* a running QEMU moves in */
    assert_under_policy("after a policy on a running sandbox");
    ck_assert(kernel_has("deny 127.0.0.0/8"));
    ck_assert(kernel_has("allow 0.0.0.0/0"));
    ck_assert(kernel_has("deny other"));
    OK(oc_sandbox_kill(sb, 0, &e_));
    ck_assert_msg(!g_file_test(cgroup, G_FILE_TEST_EXISTS), "%s is left after kill", cgroup);
    oc_sandbox_unref(sb);
    sb = NULL;
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_created_under_policy, test_guest_allow_out, test_guest_block_all,
        test_set_at_runtime, test_hibernate_and_wake,
        test_checkpoint_paths, test_kill_removes_cgroup,
    };
    g_autofree char *probe = net_egress_cgroup("/", "probe", NULL);

    if (geteuid() != 0 || !probe) {
        printf("1..0 # SKIP egress policies need root and a cgroup v2 mount\n");
        return 0;
    }
    return itest_main("network-policy", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
