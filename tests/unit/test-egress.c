/* test-egress.c: egress policies as the host kernel enforces them.  A child
 * process joins a policy's cgroup, as a sandbox's QEMU does, and tries TCP
 * connects to two loopback listeners, a UDP send and an IPv6 connect; the
 * rules themselves (parsing, the gateway, DNS) and the versions of the
 * options structs are checked without root.
 * No VM. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/egress.h"
#include "opencomputer.h"
#include "net/policy.h"
#include "util/error.h"

/* A refused connection must fail at once, not time out. */
#define FAST_US 200000

static guint16 port_tcp1, port_tcp2, port_udp, port_tcp6;
static char *state_dir, *cgroup;

/* ---- what a process in the cgroup can reach ---- */

enum { TRY_TCP1, TRY_TCP2, TRY_UDP, TRY_TCP6, TRIES };

typedef struct {
    int err[TRIES]; /* 0: it worked; else errno */
    gint64 us[TRIES];
} Reach;

static int try_connect(int family, guint16 port)
{
    struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
                                .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

    if (fd < 0)
        return errno;
    rc = family == AF_INET ? connect(fd, (struct sockaddr *)&in4, sizeof in4)
                           : connect(fd, (struct sockaddr *)&in6, sizeof in6);
    rc = rc < 0 ? errno : 0;
    close(fd);
    return rc;
}

static int try_udp(guint16 port)
{
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

    if (fd < 0)
        return errno;
    rc = sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to) < 0 ? errno : 0;
    close(fd);
    return rc;
}

/* Forks a child that joins cg (unless NULL) and tries everything. */
static Reach probe(const char *cg)
{
    Reach r = { 0 };
    int fds[2];
    pid_t pid;
    int status;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        GError *err = NULL;
        close(fds[0]);
        if (cg && !net_egress_add_pid(cg, getpid(), &err)) {
            fprintf(stderr, "# %s\n", err->message);
            _exit(2);
        }
        for (int i = 0; i < TRIES; i++) {
            gint64 t0 = g_get_monotonic_time();
            r.err[i] = i == TRY_TCP1 ? try_connect(AF_INET, port_tcp1)
                       : i == TRY_TCP2 ? try_connect(AF_INET, port_tcp2)
                       : i == TRY_UDP ? try_udp(port_udp) : try_connect(AF_INET6, port_tcp6);
            r.us[i] = g_get_monotonic_time() - t0;
        }
        _exit(write(fds[1], &r, sizeof r) == sizeof r ? 0 : 3);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &r, sizeof r), sizeof r);
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the probe failed");
    return r;
}

static const char *const try_names[TRIES] = { "tcp port 1", "tcp port 2", "udp", "tcp ::1" };

static void assert_reach(const Reach *r, const gboolean want[TRIES])
{
    for (int i = 0; i < TRIES; i++) {
        if (want[i]) {
            ck_assert_msg(r->err[i] == 0, "%s: refused (%s) but should work", try_names[i],
                          g_strerror(r->err[i]));
        } else {
            ck_assert_msg(r->err[i] == EPERM, "%s: %s, but the policy should refuse it (EPERM)",
                          try_names[i], r->err[i] ? g_strerror(r->err[i]) : "it worked");
            ck_assert_msg(r->us[i] < FAST_US, "%s: refused after %" G_GINT64_FORMAT " us, not at "
                          "once", try_names[i], r->us[i]);
        }
    }
}

static void apply(const char *const *allow, const char *const *deny, gboolean block_all)
{
    NetPolicy p = { (char **)allow, (char **)deny, block_all };
    GError *err = NULL;

    ck_assert_msg(net_egress_apply(cgroup, &p, NULL, &err), "%s", err ? err->message : "");
}

/* Applies the policy and checks what a process in its cgroup reaches. */
static Reach expect(const char *const *allow, const char *const *deny, gboolean block_all,
                    const gboolean want[TRIES])
{
    Reach r;

    apply(allow, deny, block_all);
    r = probe(cgroup);
    assert_reach(&r, want);
    return r;
}

/* ---- fixtures ---- */

static int listen_on(int family, int type, guint16 *port)
{
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_storage got;
    socklen_t len = sizeof got;
    int fd = socket(family, type | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    if (family == AF_INET6)
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a6, sizeof a6), 0);
    else
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a4, sizeof a4), 0);
    if (type == SOCK_STREAM)
        ck_assert_int_eq(listen(fd, 64), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&got, &len), 0);
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                     : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

static void setup(void)
{
    GError *err = NULL;
    static int n;

    /* the kernel completes connects into the backlog: nobody accepts */
    listen_on(AF_INET, SOCK_STREAM, &port_tcp1);
    listen_on(AF_INET, SOCK_STREAM, &port_tcp2);
    listen_on(AF_INET, SOCK_DGRAM, &port_udp);
    listen_on(AF_INET6, SOCK_STREAM, &port_tcp6);
    state_dir = g_strdup_printf("/tmp/oc-test-egress-%d", (int)getpid());
    g_autofree char *id = g_strdup_printf("sb-test%d", n++);
    cgroup = net_egress_cgroup(state_dir, id, &err);
    ck_assert_msg(cgroup, "%s", err ? err->message : "");
}

static void teardown(void)
{
    net_egress_remove(cgroup, NULL);
    g_clear_pointer(&cgroup, g_free);
    g_clear_pointer(&state_dir, g_free);
}

static char *p1(void)
{
    return g_strdup_printf("127.0.0.1:%u", port_tcp1);
}

/* ---- the kernel ---- */

START_TEST(test_no_policy)
{
    static const gboolean all[TRIES] = { TRUE, TRUE, TRUE, TRUE };
    Reach outside = probe(NULL), inside;

    assert_reach(&outside, all);
    apply(NULL, NULL, FALSE); /* a cleared policy: the programs stay, and allow */
    ck_assert_int_eq(net_egress_hooks_attached(cgroup, NULL), NET_EGRESS_HOOKS);
    inside = probe(cgroup);
    assert_reach(&inside, all);
}
END_TEST

START_TEST(test_block_all)
{
    static const gboolean none[TRIES] = { FALSE, FALSE, FALSE, FALSE };
    Reach r = expect(NULL, NULL, TRUE, none);

    printf("# blockAll: a refused connect took %" G_GINT64_FORMAT " us\n", r.us[TRY_TCP1]);
}
END_TEST

START_TEST(test_allow_one_port)
{
    static const gboolean want[TRIES] = { TRUE, FALSE, FALSE, FALSE };
    g_autofree char *only = p1();
    const char *allow[] = { only, NULL };
    expect(allow, NULL, FALSE, want);
}
END_TEST

START_TEST(test_allow_by_name)
{
    static const gboolean want[TRIES] = { FALSE, TRUE, FALSE, FALSE };
    g_autofree char *name = g_strdup_printf("localhost:%u", port_tcp2);
    const char *allow[] = { name, NULL };
    expect(allow, NULL, FALSE, want);
}
END_TEST

START_TEST(test_deny_one_port)
{
    /* only a deny list: the rest stays open, IPv6 closes */
    static const gboolean want[TRIES] = { TRUE, FALSE, TRUE, FALSE };
    g_autofree char *p2 = g_strdup_printf("127.0.0.1/8:%u", port_tcp2);
    const char *deny[] = { p2, NULL };
    expect(NULL, deny, FALSE, want);
}
END_TEST

START_TEST(test_allow_beats_deny)
{
    static const gboolean want[TRIES] = { TRUE, FALSE, FALSE, FALSE };
    g_autofree char *only = p1();
    const char *allow[] = { only, NULL }, *deny[] = { "127.0.0.0/8", only, NULL };
    expect(allow, deny, FALSE, want);
}
END_TEST

START_TEST(test_change_from_another_process)
{
    static const gboolean before[TRIES] = { TRUE, FALSE, FALSE, FALSE };
    static const gboolean after[TRIES] = { FALSE, TRUE, TRUE, FALSE };
    g_autofree char *only = p1();
    const char *allow[] = { only, NULL };
    Reach r;
    pid_t pid;
    int status;

    expect(allow, NULL, FALSE, before);
    /* a process that knows nothing of the first finds the map through
     * the cgroup's programs */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        g_autofree char *p2 = g_strdup_printf("127.0.0.1:%u", port_tcp2);
        g_autofree char *udp = g_strdup_printf("127.0.0.1:%u", port_udp);
        char *allow2[] = { p2, udp, NULL };
        NetPolicy p = { allow2, NULL, FALSE };
        GError *err = NULL;
        if (!net_egress_apply(cgroup, &p, NULL, &err)) {
            fprintf(stderr, "# %s\n", err->message);
            _exit(1);
        }
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    r = probe(cgroup);
    assert_reach(&r, after);

    GError *err = NULL;
    g_autoptr(GPtrArray) rules = net_egress_read_rules(cgroup, &err);
    g_autofree char *want_p2 = g_strdup_printf("allow 127.0.0.1/32:%u", port_tcp2);
    g_autofree char *old_p1 = g_strdup_printf("allow 127.0.0.1/32:%u", port_tcp1);
    gboolean has_p2 = FALSE, has_p1 = FALSE, has_default = FALSE;
    ck_assert_msg(rules, "%s", err ? err->message : "");
    for (guint i = 0; i < rules->len; i++) {
        has_p2 |= g_str_equal(rules->pdata[i], want_p2);
        has_p1 |= g_str_equal(rules->pdata[i], old_p1);
        has_default |= g_str_equal(rules->pdata[i], "deny 0.0.0.0/0");
    }
    ck_assert_msg(has_p2 && has_default && !has_p1, "the map holds the old or wrong rules");
}
END_TEST

/* A setup that failed midway (here: a program detached by hand) is
 * completed by the next. */
START_TEST(test_repair_partial)
{
    static const gboolean none[TRIES] = { FALSE, FALSE, FALSE, FALSE };
    union bpf_attr a;
    int fd;

    apply(NULL, NULL, TRUE);
    fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof a);
    a.target_fd = fd;
    a.attach_type = BPF_CGROUP_UDP4_SENDMSG;
    ck_assert_int_eq(syscall(__NR_bpf, BPF_PROG_DETACH, &a, sizeof a), 0);
    close(fd);
    ck_assert_int_eq(net_egress_hooks_attached(cgroup, NULL), NET_EGRESS_HOOKS - 1);
    ck_assert_int_eq(probe(cgroup).err[TRY_UDP], 0); /* the hole */
    expect(NULL, NULL, TRUE, none);
    ck_assert_int_eq(net_egress_hooks_attached(cgroup, NULL), NET_EGRESS_HOOKS);
}
END_TEST

START_TEST(test_remove)
{
    apply(NULL, NULL, TRUE);
    probe(cgroup); /* a process has been in it, and is gone */
    ck_assert(g_file_test(cgroup, G_FILE_TEST_IS_DIR));
    ck_assert(net_egress_remove(cgroup, NULL));
    ck_assert(!g_file_test(cgroup, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(net_egress_hooks_attached(cgroup, NULL), 0);
    ck_assert(net_egress_remove(cgroup, NULL)); /* twice is fine */
}
END_TEST

START_TEST(test_remove_busy)
{
    GError *err = NULL;
    int ready[2], go[2];
    pid_t pid;
    char c;

    apply(NULL, NULL, TRUE);
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(go[1]);
        if (!net_egress_add_pid(cgroup, getpid(), NULL) || write(ready[1], "r", 1) != 1)
            _exit(1);
        _exit(read(go[0], &c, 1) < 0);
    }
    close(ready[1]);
    close(go[0]);
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert(!net_egress_remove(cgroup, &err));
    ck_assert_int_eq(err->code, OC_ESTATE);
    g_error_free(err);
    close(go[1]);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert(net_egress_remove(cgroup, NULL));
}
END_TEST

/* ---- the rules ---- */

static gboolean rules_have(GArray *rules, const char *want)
{
    for (guint i = 0; i < rules->len; i++) {
        g_autofree char *s = net_rule_to_string(&g_array_index(rules, NetRule, i));
        if (g_str_equal(s, want))
            return TRUE;
    }
    return FALSE;
}

static GArray *rules_of(const char *const *allow, const char *const *deny, gboolean block_all,
                        const char *resolv)
{
    NetPolicy p = { (char **)allow, (char **)deny, block_all };
    GError *err = NULL;
    GArray *rules = net_policy_rules(&p, resolv, &err);

    ck_assert_msg(rules, "%s", err ? err->message : "");
    return rules;
}

START_TEST(test_rules)
{
    g_autofree char *resolv = g_strdup_printf("/tmp/oc-test-egress-resolv-%d", (int)getpid());
    const char *allow[] = { "10.0.2.2:8080", "192.168.7.9/16", "1.2.3.4", NULL };
    const char *deny[] = { "1.2.3.4", "9.9.9.9:443", NULL };
    g_autoptr(GArray) open = NULL, allowing = NULL, blocked = NULL;

    g_file_set_contents(resolv, "# test\nnameserver 192.0.2.53\nnameserver ::1\n", -1, NULL);
    open = rules_of(NULL, NULL, FALSE, resolv);
    ck_assert_uint_eq(open->len, 1);
    ck_assert(rules_have(open, "allow 0.0.0.0/0"));

    allowing = rules_of(allow, deny, FALSE, resolv);
    ck_assert(rules_have(allowing, "deny 0.0.0.0/0"));
    ck_assert(rules_have(allowing, "allow 127.0.0.0/8:8080")); /* the gateway is the loopback */
    ck_assert(rules_have(allowing, "allow 192.168.0.0/16"));   /* host bits dropped */
    ck_assert(rules_have(allowing, "allow 1.2.3.4/32"));       /* allow wins a tie */
    ck_assert(!rules_have(allowing, "deny 1.2.3.4/32"));
    ck_assert(rules_have(allowing, "deny 9.9.9.9/32:443"));
    ck_assert(rules_have(allowing, "allow 192.0.2.53/32:53")); /* DNS stays */
    ck_assert_uint_eq(allowing->len, 6);

    blocked = rules_of(allow, NULL, TRUE, resolv);
    ck_assert(rules_have(blocked, "deny 0.0.0.0/0"));
    ck_assert(!rules_have(blocked, "allow 192.0.2.53/32:53")); /* blockAll: no DNS */
    ck_assert(rules_have(blocked, "allow 1.2.3.4/32"));
    unlink(resolv);

    ck_assert(!net_policy_restricts(NULL));
    NetPolicy empty = { 0 };
    ck_assert(!net_policy_restricts(&empty));
}
END_TEST

START_TEST(test_bad_entries)
{
    static const char *const bad[] = {
        "300.1.2.3", "10.0.0.0/33", "10.0.0.1:0", "10.0.0.1:70000", "::1", "[::1]:80",
        "host name", "-x.example", "10.0.0.1:", "/8", "example.com/8", "",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        const char *list[] = { bad[i], NULL };
        NetPolicy p = { (char **)list, NULL, FALSE };
        g_autofree char *quoted = g_strdup_printf("'%s'", bad[i]);
        GError *err = NULL;
        ck_assert_msg(!net_policy_check(&p, &err), "%s was accepted", bad[i]);
        ck_assert_int_eq(err->code, OC_EINVAL);
        ck_assert_msg(strstr(err->message, quoted) && strstr(err->message, "allowOut"),
                      "the error does not name the entry: %s", err->message);
        g_clear_error(&err);
        /* and setting it fails the same, before anything changes */
        ck_assert(!net_policy_rules(&p, NULL, &err));
        ck_assert_int_eq(err->code, OC_EINVAL);
        g_clear_error(&err);
    }
    const char *good[] = { "10.0.0.0/8", "10.0.0.1:443", "0.0.0.0/0:53", "example.com",
                           "sub.example.com:8080", NULL };
    NetPolicy p = { NULL, (char **)good, FALSE };
    ck_assert(net_policy_check(&p, NULL));
}
END_TEST

/* A program built against version 1 passes structs without `network`:
 * init writes only what that version has, and the calls read no more. */
START_TEST(test_options_versions)
{
    union {
        oc_sandbox_options o;
        unsigned char bytes[sizeof(oc_sandbox_options)];
    } s;
    union {
        oc_fork_options o;
        unsigned char bytes[sizeof(oc_fork_options)];
    } f;
    oc_network_policy p;

    memset(&s, 0xaa, sizeof s);
    ck_assert_int_eq(oc_sandbox_options_init(&s.o, 1), OC_OK);
    ck_assert_uint_eq(s.o.version, 1);
    ck_assert_uint_eq(s.o.memory_mb, OC_DEFAULT_MEMORY_MB);
    for (size_t i = offsetof(oc_sandbox_options, network); i < sizeof s; i++)
        ck_assert_uint_eq(s.bytes[i], 0xaa);
    ck_assert_int_eq(oc_sandbox_options_init(&s.o, 2), OC_OK);
    ck_assert_ptr_null(s.o.network);
    ck_assert_int_eq(oc_sandbox_options_init(&s.o, 3), OC_EINVAL);
    ck_assert_int_eq(oc_sandbox_options_init(&s.o, 0), OC_EINVAL);

    memset(&f, 0xaa, sizeof f);
    ck_assert_int_eq(oc_fork_options_init(&f.o, 1), OC_OK);
    ck_assert_uint_eq(f.o.count, 1);
    for (size_t i = offsetof(oc_fork_options, network); i < sizeof f; i++)
        ck_assert_uint_eq(f.bytes[i], 0xaa);
    ck_assert_int_eq(oc_fork_options_init(&f.o, 2), OC_OK);
    ck_assert_ptr_null(f.o.network);
    ck_assert_int_eq(oc_fork_options_init(&f.o, 3), OC_EINVAL);

    ck_assert_int_eq(oc_network_policy_init(&p, OC_NETWORK_POLICY_VERSION), OC_OK);
    ck_assert(!p.allow_out && !p.deny_out && !p.block_all);
    ck_assert_int_eq(oc_network_policy_init(&p, 2), OC_EINVAL);
}
END_TEST

static gboolean can_use_kernel(void)
{
    g_autofree char *cg = NULL;

    if (geteuid() != 0) {
        printf("# not root: the tests of the kernel's enforcement are skipped\n");
        return FALSE;
    }
    cg = net_egress_cgroup("/tmp", "probe", NULL);
    if (!cg) {
        printf("# no cgroup v2 mounted: the tests of the kernel's enforcement are skipped\n");
        return FALSE;
    }
    return TRUE;
}

int main(void)
{
    Suite *s = suite_create("egress");
    TCase *rules = tcase_create("rules"), *kernel = tcase_create("kernel");
    SRunner *sr;
    int failed;

    tcase_add_test(rules, test_rules);
    tcase_add_test(rules, test_bad_entries);
    tcase_add_test(rules, test_options_versions);
    suite_add_tcase(s, rules);
    if (can_use_kernel()) {
        tcase_add_checked_fixture(kernel, setup, teardown);
        tcase_set_timeout(kernel, 60);
        tcase_add_test(kernel, test_no_policy);
        tcase_add_test(kernel, test_block_all);
        tcase_add_test(kernel, test_allow_one_port);
        tcase_add_test(kernel, test_allow_by_name);
        tcase_add_test(kernel, test_deny_one_port);
        tcase_add_test(kernel, test_allow_beats_deny);
        tcase_add_test(kernel, test_change_from_another_process);
        tcase_add_test(kernel, test_repair_partial);
        tcase_add_test(kernel, test_remove);
        tcase_add_test(kernel, test_remove_busy);
        suite_add_tcase(s, kernel);
    }
    sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
