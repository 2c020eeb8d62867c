/* test-network-policy.c: a sandbox's egress policy around its real QEMU process:
 * created with a policy, its QEMU runs in the policy's cgroup with the
 * programs attached before the guest runs; a policy changed at runtime
 * reaches the kernel; hibernate and wake put the new QEMU back under the
 * policy the record holds; kill removes the cgroup.  (That a guest's own
 * connections are refused needs the guest network.) */
#include <errno.h>
#include <unistd.h>

#include "itest.h"
#include "net/egress.h"

static oc_context *ctx;
static oc_sandbox *sb;
static const char *sb_id;
static char *cgroup;
static GMutex log_lock;
static GString *debug_log;

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

static void setup_all(void)
{
    oc_error *err = NULL;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=test-network", NULL };
    const char *allow[] = { "10.0.2.2:8080", NULL };
    oc_network_policy net = OC_NETWORK_POLICY_INIT;
    gint64 t0;

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
}

START_TEST(test_created_under_policy)
{
    oc_sandbox_info *info = NULL;
    g_autofree char *out = NULL;

    assert_under_policy("after create");
    ck_assert(kernel_has("allow 127.0.0.0/8:8080"));
    ck_assert(kernel_has("deny 0.0.0.0/0"));
    ck_assert(kernel_has("deny other"));
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_uint_eq(oc_sandbox_info_allow_out_count(info), 1);
    ck_assert_str_eq(oc_sandbox_info_allow_out_at(info, 0), "10.0.2.2:8080");
    ck_assert_ptr_null(oc_sandbox_info_allow_out_at(info, 1));
    ck_assert_int_eq(oc_sandbox_info_block_all(info), 0);
    oc_sandbox_info_free(info);
    /* it was resumed: the guest runs */
    out = itest_sh(sb, "echo up");
    ck_assert_str_eq(out, "up\n");
}
END_TEST

START_TEST(test_set_at_runtime)
{
    oc_network_policy net = OC_NETWORK_POLICY_INIT;
    const char *bad[] = { "10.0.0.0/40", NULL };
    oc_sandbox *other = NULL;
    oc_sandbox_info *info = NULL;

    net.block_all = 1;
    /* through a second handle, as another process would */
    OK(oc_sandbox_connect(&other, ctx, sb_id, &e_));
    OK(oc_sandbox_set_network(other, &net, 0, &e_));
    ck_assert(kernel_has("deny 0.0.0.0/0"));
    ck_assert(!kernel_has("allow 127.0.0.0/8:8080"));
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

    fo.network = &net;
    OK(oc_sandbox_create_from_checkpoint(&fork, ctx, oc_checkpoint_id(cp), &fo, &e_));
    fork_cgroup = net_egress_cgroup(state_dir(), oc_sandbox_id(fork), NULL);
    assert_in(oc_sandbox_id(fork), fork_cgroup, "a fork with a policy");
    g_free(out);
    out = itest_sh(fork, "echo forked");
    OK(oc_sandbox_kill(fork, 0, &e_));
    ck_assert_msg(!g_file_test(fork_cgroup, G_FILE_TEST_EXISTS), "%s is left", fork_cgroup);
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
        test_created_under_policy, test_set_at_runtime, test_hibernate_and_wake,
        test_checkpoint_paths, test_kill_removes_cgroup,
    };
    g_autofree char *probe = net_egress_cgroup("/", "probe", NULL);

    if (geteuid() != 0 || !probe) {
        printf("1..0 # SKIP egress policies need root and a cgroup v2 mount\n");
        return 0;
    }
    return itest_main("network-policy", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
