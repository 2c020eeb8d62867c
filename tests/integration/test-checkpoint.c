/* test-checkpoint.c: checkpoints, forks, restore in place, template
 * snapshots and the warm pool, on real VMs.  One source sandbox with a file
 * and a counter process is checkpointed once; the tests fork from it. */
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>

#include "itest.h"

static oc_context *ctx;
static oc_sandbox *parent;
static char *cp_id;
/* The counter's value just before and just after the checkpoint. */
static long count_before, count_after;
static oc_sandbox *forks[2];

static const char *state_dir(void)
{
    const char *d = g_getenv("OC_STATE_DIR");
    return d && *d ? d : "/var/lib/opencomputer";
}

static long read_count(oc_sandbox *sb)
{
    g_autofree char *out = itest_sh(sb, "cat /tmp/count");
    return strtol(out, NULL, 10);
}

static void setup_all(void)
{
    oc_error *err = NULL;
    oc_checkpoint *cp = NULL;
    uint32_t session;

    itest_sandbox_open(&ctx, &parent, "test-checkpoint", NULL, 0);
    g_free(itest_sh(parent, "echo from-before > /root/marker"));
    if (oc_exec_start(&session, parent,
                      "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done", NULL,
                      &err) < 0) {
        fprintf(stderr, "cannot start the counter: %s\n", oc_error_message(err));
        exit(1);
    }
    g_usleep(1500 * 1000);
    count_before = read_count(parent);
    if (oc_checkpoint_create(&cp, parent, "with counter", 0, &err) < 0) {
        fprintf(stderr, "cannot checkpoint: %s\n", oc_error_message(err));
        exit(1);
    }
    count_after = read_count(parent);
    cp_id = g_strdup(oc_checkpoint_id(cp));
    oc_checkpoint_free(cp);
}

static void teardown_all(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(forks); i++) {
        if (forks[i])
            oc_sandbox_kill(forks[i], 0, NULL);
        oc_sandbox_unref(forks[i]);
    }
    oc_checkpoint_delete(ctx, cp_id, 0, NULL);
    itest_sandbox_close(ctx, parent);
    g_free(cp_id);
}

static int file_exists(oc_sandbox *sb, const char *path)
{
    g_autofree char *cmd = g_strdup_printf("test -e %s && echo yes || echo no", path);
    g_autofree char *out = itest_sh(sb, cmd);
    return g_str_has_prefix(out, "yes");
}

START_TEST(test_checkpoint_info)
{
    oc_checkpoint *cp = NULL;
    oc_checkpoint_list *list = NULL;
    int found = 0;

    OK(oc_checkpoint_get(&cp, ctx, cp_id, &e_));
    ck_assert(g_str_has_prefix(oc_checkpoint_id(cp), "cp-"));
    ck_assert_str_eq(oc_checkpoint_name(cp), "with counter");
    ck_assert_str_eq(oc_checkpoint_sandbox_id(cp), oc_sandbox_id(parent));
    ck_assert_str_eq(oc_checkpoint_template(cp), "base");
    ck_assert_uint_eq(oc_checkpoint_memory_mb(cp), 256);
    ck_assert_uint_eq(oc_checkpoint_cpu_count(cp), 1);
    /* memory (tens of MiB) plus the frozen disk */
    ck_assert_uint_gt(oc_checkpoint_size_bytes(cp), 8u << 20);
    ck_assert_int_le(g_get_real_time() / G_USEC_PER_SEC - oc_checkpoint_created_at(cp), 600);
    oc_checkpoint_free(cp);
    OK(oc_checkpoint_list_get(&list, ctx, oc_sandbox_id(parent), 0, &e_));
    for (size_t i = 0; i < oc_checkpoint_list_count(list); i++)
        found += g_str_equal(oc_checkpoint_id(oc_checkpoint_list_at(list, i)), cp_id);
    ck_assert_int_eq(found, 1);
    oc_checkpoint_list_free(list);
    /* the parent goes on running, with its processes */
    ck_assert_int_eq(itest_state(parent), OC_STATE_RUNNING);
    ck_assert_int_gt(count_after, count_before - 1);
}
END_TEST

START_TEST(test_fork_twice)
{
    oc_fork_options fo = OC_FORK_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=test-checkpoint", "fork=yes", NULL };
    const char *envs[] = { "FORKED=1", NULL };
    oc_sandbox **made = NULL;
    long parent_now;

    g_usleep(2 * G_USEC_PER_SEC); /* the parent's counter moves well past the checkpoint */
    fo.count = 2;
    fo.metadata = meta;
    fo.envs = envs;
    OK(oc_sandbox_fork(&made, ctx, cp_id, &fo, &e_));
    forks[0] = made[0];
    forks[1] = made[1];
    oc_free(made);
    parent_now = read_count(parent);
    for (size_t i = 0; i < 2; i++) {
        oc_sandbox_info *info = NULL;
        g_autofree char *marker = itest_sh(forks[i], "cat /root/marker");
        g_autofree char *env = itest_sh(forks[i], "echo $FORKED");
        long c0 = read_count(forks[i]), c1;

        ck_assert_str_eq(marker, "from-before\n");
        ck_assert_str_eq(env, "1\n");
        /* it resumed from the checkpoint's value, not the parent's now */
        ck_assert_msg(c0 >= count_before && c0 < parent_now,
                      "fork counter %ld: checkpoint taken at %ld..%ld, parent now at %ld", c0,
                      count_before, count_after, parent_now);
        g_usleep(1200 * 1000);
        c1 = read_count(forks[i]);
        ck_assert_msg(c1 > c0, "the counter does not run in the fork (%ld then %ld)", c0, c1);
        OK(oc_sandbox_info_get(&info, forks[i], &e_));
        ck_assert_str_eq(oc_sandbox_info_origin(info), "checkpoint");
        ck_assert_str_eq(oc_sandbox_info_checkpoint(info), cp_id);
        ck_assert_str_eq(oc_sandbox_info_metadata_get(info, "fork"), "yes");
        ck_assert_uint_eq(oc_sandbox_info_memory_mb(info), 256);
        oc_sandbox_info_free(info);
    }
    /* writes are private to each */
    g_free(itest_sh(parent, "echo p > /root/only-parent"));
    g_free(itest_sh(forks[0], "echo a > /root/only-f0"));
    g_free(itest_sh(forks[1], "echo b > /root/only-f1"));
    ck_assert(file_exists(parent, "/root/only-parent"));
    ck_assert(!file_exists(parent, "/root/only-f0") && !file_exists(parent, "/root/only-f1"));
    ck_assert(!file_exists(forks[0], "/root/only-parent") && !file_exists(forks[0], "/root/only-f1"));
    ck_assert(!file_exists(forks[1], "/root/only-parent") && !file_exists(forks[1], "/root/only-f0"));
    ck_assert(file_exists(forks[0], "/root/only-f0") && file_exists(forks[1], "/root/only-f1"));
}
END_TEST

START_TEST(test_forks_differ)
{
    g_autofree char *r0 = NULL, *r1 = NULL, *h0 = NULL, *h1 = NULL, *want0 = NULL, *want1 = NULL;

    ck_assert_msg(forks[0] && forks[1], "test_fork_twice made no forks");
    r0 = itest_sh(forks[0], "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'");
    r1 = itest_sh(forks[1], "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'");
    ck_assert_uint_eq(strlen(r0), 64);
    ck_assert_str_ne(r0, r1);
    h0 = itest_sh(forks[0], "hostname");
    h1 = itest_sh(forks[1], "hostname");
    want0 = g_strdup_printf("%s\n", oc_sandbox_id(forks[0]));
    want1 = g_strdup_printf("%s\n", oc_sandbox_id(forks[1]));
    ck_assert_str_eq(h0, want0);
    ck_assert_str_eq(h1, want1);
}
END_TEST

/* A checkpoint of a fork, a fork of that, and hibernate and wake of the
 * second-generation fork: chains of frozen disks, and managed save on a
 * restored domain. */
START_TEST(test_fork_of_fork)
{
    oc_checkpoint *cp = NULL;
    oc_sandbox *gen2 = NULL;
    g_autofree char *id = NULL, *out = NULL;
    int kind = -1;

    ck_assert_msg(forks[0], "test_fork_twice made no forks");
    OK(oc_checkpoint_create(&cp, forks[0], "fork's", 0, &e_));
    id = g_strdup(oc_checkpoint_id(cp));
    oc_checkpoint_free(cp);
    OK(oc_sandbox_create_from_checkpoint(&gen2, ctx, id, NULL, &e_));
    out = itest_sh(gen2, "cat /root/marker /root/only-f0");
    ck_assert_str_eq(out, "from-before\na\n");
    g_free(itest_sh(gen2, "echo gen2 > /root/gen2 && sync"));
    OK(oc_sandbox_hibernate(gen2, 0, &e_));
    ck_assert_int_eq(itest_state(gen2), OC_STATE_HIBERNATED);
    OK(oc_sandbox_wake(gen2, NULL, &kind, &e_));
    ck_assert_int_eq(kind, OC_WAKE_RESTORED);
    g_free(out);
    out = itest_sh(gen2, "cat /root/gen2; hostname");
    g_autofree char *want = g_strdup_printf("gen2\n%s\n", oc_sandbox_id(gen2));
    ck_assert_str_eq(out, want);
    /* the first fork goes on, unaffected */
    ck_assert(!file_exists(forks[0], "/root/gen2"));
    OK(oc_checkpoint_delete(ctx, id, 0, &e_));
    OK(oc_sandbox_kill(gen2, 0, &e_));
    oc_sandbox_unref(gen2);
}
END_TEST

START_TEST(test_restore_in_place)
{
    oc_sandbox_info *info = NULL;
    g_autofree char *marker = NULL, *host = NULL, *want = NULL;

    g_free(itest_sh(parent, "rm /root/marker; echo later > /root/after-checkpoint"));
    ck_assert(!file_exists(parent, "/root/marker"));
    OK(oc_sandbox_restore_checkpoint(parent, cp_id, 0, &e_));
    marker = itest_sh(parent, "cat /root/marker");
    ck_assert_str_eq(marker, "from-before\n");
    ck_assert(!file_exists(parent, "/root/after-checkpoint"));
    host = itest_sh(parent, "hostname");
    want = g_strdup_printf("%s\n", oc_sandbox_id(parent));
    ck_assert_str_eq(host, want);
    OK(oc_sandbox_info_get(&info, parent, &e_));
    ck_assert_str_eq(oc_sandbox_info_checkpoint(info), cp_id);
    ck_assert_str_eq(oc_sandbox_info_metadata_get(info, "owner"), "test-checkpoint");
    oc_sandbox_info_free(info);
    /* and it can be checkpointed and restored again, on its new disk */
    OK(oc_sandbox_restore_checkpoint(parent, cp_id, 0, &e_));
    ck_assert(file_exists(parent, "/root/marker"));
}
END_TEST

START_TEST(test_outlives_source)
{
    oc_context *c2 = NULL;
    oc_sandbox *src = NULL, *fork = NULL;
    oc_checkpoint *cp = NULL, *again = NULL;
    g_autofree char *id = NULL, *src_id = NULL, *out = NULL;

    itest_sandbox_open(&c2, &src, "test-checkpoint", NULL, 0);
    src_id = g_strdup(oc_sandbox_id(src));
    g_free(itest_sh(src, "echo survivor > /root/s"));
    OK(oc_checkpoint_create(&cp, src, "src", 0, &e_));
    id = g_strdup(oc_checkpoint_id(cp));
    oc_checkpoint_free(cp);
    OK(oc_sandbox_kill(src, 0, &e_));
    oc_sandbox_unref(src);

    OK(oc_checkpoint_get(&again, ctx, id, &e_));
    ck_assert_str_eq(oc_checkpoint_sandbox_id(again), src_id);
    oc_checkpoint_free(again);
    OK(oc_sandbox_create_from_checkpoint(&fork, ctx, id, NULL, &e_));
    out = itest_sh(fork, "cat /root/s");
    ck_assert_str_eq(out, "survivor\n");
    /* deleting it while the fork builds on its disk is fine: the disk stays */
    OK(oc_checkpoint_delete(ctx, id, 0, &e_));
    g_free(out);
    out = itest_sh(fork, "echo 3 > /proc/sys/vm/drop_caches; cat /root/s");
    ck_assert_str_eq(out, "survivor\n");
    FAILS(OC_ENOTFOUND, oc_checkpoint_get(&again, ctx, id, &err), "no checkpoint");
    FAILS(OC_ENOTFOUND, oc_sandbox_create_from_checkpoint(&src, ctx, id, NULL, &err),
          "no checkpoint");
    OK(oc_sandbox_kill(fork, 0, &e_));
    oc_sandbox_unref(fork);
    /* with the last user gone, its directory goes */
    g_autofree char *dir = g_build_filename(state_dir(), "checkpoints", id, NULL);
    ck_assert_msg(!g_file_test(dir, G_FILE_TEST_EXISTS), "%s is left behind", dir);
    oc_context_unref(c2);
}
END_TEST

/* Names of the sb-* domains libvirt has and of the sandbox directories. */
static guint count_things(void)
{
    virConnectPtr c = virConnectOpen("qemu:///system");
    g_autofree char *root = g_build_filename(state_dir(), "sandboxes", NULL);
    GDir *d = g_dir_open(root, 0, NULL);
    guint n;

    virDomainPtr *doms = NULL;
    g_autofree char *mine = g_strconcat(state_dir(), "/", NULL);
    int ndoms;

    ck_assert_ptr_nonnull(c);
    /* Only this state directory's domains (their disks are in it): other
     * processes' sandboxes on the same libvirt come and go meanwhile. */
    ndoms = virConnectListAllDomains(c, &doms, 0);
    ck_assert_int_ge(ndoms, 0);
    n = 0;
    for (int i = 0; i < ndoms; i++) {
        char *xml = virDomainGetXMLDesc(doms[i], 0);
        if (xml && strstr(xml, mine))
            n++;
        free(xml);
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(c);
    while (d && g_dir_read_name(d))
        n++;
    if (d)
        g_dir_close(d);
    return n;
}

START_TEST(test_bad_input)
{
    oc_sandbox *sb = NULL;
    oc_sandbox **many = NULL;
    oc_checkpoint *cp = NULL;
    oc_fork_options fo = OC_FORK_OPTIONS_INIT;
    g_autofree char *dir = NULL, *mem = NULL, *copy = NULL;
    guint before;

    FAILS(OC_ENOTFOUND, oc_sandbox_create_from_checkpoint(&sb, ctx, "cp-000000000000", NULL, &err),
          "no checkpoint with id 'cp-000000000000'");
    FAILS(OC_EINVAL, oc_sandbox_create_from_checkpoint(&sb, ctx, "../../etc", NULL, &err),
          "invalid checkpoint id");
    FAILS(OC_ENOTFOUND, oc_sandbox_restore_checkpoint(parent, "cp-000000000000", 0, &err),
          "no checkpoint");
    FAILS(OC_EINVAL, oc_checkpoint_create(&cp, parent, "", 0, &err), "checkpoint name");
    FAILS(OC_EINVAL, oc_checkpoint_create(&cp, parent, "a\nb", 0, &err), "control");
    FAILS(OC_EINVAL, oc_checkpoint_create(&cp, parent, "x", 1, &err), "flags");
    fo.count = 2;
    FAILS(OC_EINVAL, oc_sandbox_create_from_checkpoint(&sb, ctx, cp_id, &fo, &err),
          "oc_sandbox_fork");
    fo.count = OC_MAX_FORK_COUNT + 1;
    FAILS(OC_EINVAL, oc_sandbox_fork(&many, ctx, cp_id, &fo, &err), "out of range");

    /* A damaged memory image: the fork fails and leaves nothing behind. */
    dir = g_build_filename(state_dir(), "checkpoints", cp_id, NULL);
    mem = g_build_filename(dir, "memory.save", NULL);
    copy = g_strdup_printf("%s.keep", mem);
    ck_assert_int_eq(rename(mem, copy), 0);
    {
        g_autofree char *head = NULL;
        gsize len = 0;
        ck_assert(g_file_get_contents(copy, &head, &len, NULL));
        ck_assert(g_file_set_contents(mem, head, MIN(len, 300 * 1024), NULL));
    }
    before = count_things();
    FAILS(OC_EVIRT, oc_sandbox_create_from_checkpoint(&sb, ctx, cp_id, NULL, &err),
          "cannot fork");
    ck_assert_uint_eq(count_things(), before);
    ck_assert_int_eq(rename(copy, mem), 0);
}
END_TEST

START_TEST(test_template_snapshot)
{
    oc_sandbox *sb = NULL;
    oc_sandbox_info *info = NULL;
    int built = -1, ready = 0;
    g_autofree char *host = NULL, *want = NULL;
    const char *meta[] = { "oc-test=integration", "owner=test-checkpoint", NULL };
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;

    OK(oc_template_prepare(ctx, "base", 0, &built, &e_));
    OK(oc_template_snapshot_ready(ctx, "base", &ready, &e_));
    ck_assert_int_eq(ready, 1);
    OK(oc_template_prepare(ctx, "base", 0, &built, &e_));
    ck_assert_int_eq(built, 0); /* fresh: nothing to do */
    o.metadata = meta;
    OK(oc_sandbox_create(&sb, ctx, &o, &e_));
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_str_eq(oc_sandbox_info_origin(info), "snapshot");
    oc_sandbox_info_free(info);
    host = itest_sh(sb, "hostname");
    want = g_strdup_printf("%s\n", oc_sandbox_id(sb));
    ck_assert_str_eq(host, want);
    OK(oc_sandbox_kill(sb, 0, &e_));
    oc_sandbox_unref(sb);
    FAILS(OC_ENOTFOUND, oc_template_prepare(ctx, "no-such-template", 0, NULL, &err),
          "unknown template");
}
END_TEST

/* The one unclaimed member of the pool, or NULL. */
static char *pool_member(void)
{
    g_autofree char *dir = g_build_filename(state_dir(), "pool", "base", NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n = d ? g_dir_read_name(d) : NULL;
    char *id = n ? g_strdup(n) : NULL;

    if (d)
        g_dir_close(d);
    return id;
}

static void wait_pool_ready(oc_context *c, uint32_t want)
{
    uint32_t ready = 0, target = 0;

    for (int i = 0; i < 1800; i++) {
        OK(oc_pool_status(c, "base", &ready, &target, &e_));
        if (ready >= want)
            return;
        g_usleep(100 * 1000);
    }
    ck_abort_msg("the pool did not fill in 180 s (%u of %u ready)", ready, want);
}

START_TEST(test_pool)
{
    oc_context_options co = OC_CONTEXT_OPTIONS_INIT;
    oc_context *pc = NULL;
    oc_sandbox *sb = NULL, *hidden = NULL;
    oc_sandbox_info *info = NULL;
    oc_sandbox_list *list = NULL;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=test-checkpoint", "who=claimer", NULL };
    const char *envs[] = { "POOLED=yes", NULL };
    g_autofree char *member = NULL, *env = NULL, *member2 = NULL;
    uint32_t target = 0;

    co.pool_size = 1;
    OK(oc_context_new(&pc, &co, &e_));
    wait_pool_ready(pc, 1);
    OK(oc_pool_status(pc, "base", NULL, &target, &e_));
    ck_assert_uint_eq(target, 1);
    member = pool_member();
    ck_assert_ptr_nonnull(member);
    /* unclaimed members are hidden */
    FAILS(OC_ENOTFOUND, oc_sandbox_connect(&hidden, ctx, member, &err), "pool");
    OK(oc_sandbox_list_get(&list, ctx, NULL, 0, &e_));
    for (size_t i = 0; i < oc_sandbox_list_count(list); i++)
        ck_assert_str_ne(oc_sandbox_info_id(oc_sandbox_list_at(list, i)), member);
    oc_sandbox_list_free(list);

    o.metadata = meta;
    o.envs = envs;
    o.timeout_s = 1234;
    OK(oc_sandbox_create(&sb, ctx, &o, &e_));
    ck_assert_str_eq(oc_sandbox_id(sb), member);
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_str_eq(oc_sandbox_info_origin(info), "pool");
    ck_assert_str_eq(oc_sandbox_info_metadata_get(info, "who"), "claimer");
    ck_assert_uint_eq(oc_sandbox_info_timeout(info), 1234);
    ck_assert_int_eq(oc_sandbox_info_state(info), OC_STATE_RUNNING);
    oc_sandbox_info_free(info);
    env = itest_sh(sb, "echo $POOLED");
    ck_assert_str_eq(env, "yes\n");

    /* it refills, and freeing the context kills the unclaimed member */
    wait_pool_ready(pc, 1);
    member2 = pool_member();
    ck_assert_ptr_nonnull(member2);
    ck_assert_str_ne(member2, member);
    oc_context_unref(pc);
    ck_assert_ptr_null(pool_member());
    {
        virConnectPtr c = virConnectOpen("qemu:///system");
        virDomainPtr dom = virDomainLookupByName(c, member2);
        ck_assert_msg(dom == NULL, "pool member %s outlived its pool", member2);
        virConnectClose(c);
    }
    OK(oc_sandbox_kill(sb, 0, &e_));
    oc_sandbox_unref(sb);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_checkpoint_info,
        test_fork_twice,
        test_forks_differ,
        test_fork_of_fork,
        test_restore_in_place,
        test_outlives_source,
        test_bad_input,
        test_template_snapshot,
        test_pool,
    };

    return itest_main("checkpoint", 1200, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
