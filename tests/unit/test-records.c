/* test-records.c: what the library keeps on disk and in libvirt, without a
 * VM: the sandbox record in domain metadata, the domain XML, and the
 * template store. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "image/store.h"
#include "opencomputer.h"
#include "util/error.h"
#include "virt/domain.h"
#include "virt/record.h"

static VirtRecord *sample(void)
{
    VirtRecord *r = virt_record_new();
    r->id = g_strdup("sb-0123456789ab");
    r->template_name = g_strdup("base");
    r->created = 1795708636;
    r->timeout_s = 600;
    r->cpu_count = 2;
    r->memory_mb = 1024;
    r->creating = TRUE;
    r->last_wake = 2;
    r->origin = g_strdup("checkpoint");
    r->checkpoint = g_strdup("cp-0123456789ab");
    r->pool = TRUE;
    r->workdir = g_strdup("/srv/my app");
    r->user = g_strdup("builder:staff");
    r->agent = g_strdupv((char *[]){ "/opt/agent/run", "--model", "a <b>", NULL });
    g_ptr_array_add(r->envs, g_strdup("NODE_ENV=production"));
    g_ptr_array_add(r->metadata, g_strdup("project=<my & \"app\">"));
    g_ptr_array_add(r->metadata, g_strdup("eq=a=b"));
    return r;
}

START_TEST(test_record_roundtrip)
{
    g_autoptr(VirtRecord) r = sample();
    g_autofree char *xml = virt_record_to_xml(r);
    GError *err = NULL;
    g_autoptr(VirtRecord) back = virt_record_from_xml(xml, &err);

    ck_assert_msg(back, "%s", err ? err->message : "");
    ck_assert_str_eq(back->template_name, "base");
    ck_assert_int_eq(back->created, 1795708636);
    ck_assert_uint_eq(back->timeout_s, 600);
    ck_assert_uint_eq(back->cpu_count, 2);
    ck_assert_uint_eq(back->memory_mb, 1024);
    ck_assert(back->creating);
    ck_assert_int_eq(back->last_wake, 2);
    ck_assert_str_eq(back->origin, "checkpoint");
    ck_assert_str_eq(back->checkpoint, "cp-0123456789ab");
    ck_assert(back->pool);
    ck_assert_str_eq(back->workdir, "/srv/my app");
    ck_assert_str_eq(back->user, "builder:staff");
    /* the agent program's argv comes back in order */
    ck_assert_uint_eq(g_strv_length(back->agent), 3);
    ck_assert_str_eq(back->agent[0], "/opt/agent/run");
    ck_assert_str_eq(back->agent[2], "a <b>");
    g_autoptr(VirtRecord) copy = virt_record_copy(back);
    ck_assert_str_eq(copy->agent[1], "--model");
    ck_assert_str_eq(virt_kv_lookup(back->envs, "NODE_ENV"), "production");
    ck_assert_str_eq(virt_kv_lookup(back->metadata, "project"), "<my & \"app\">");
    ck_assert_str_eq(virt_kv_lookup(back->metadata, "eq"), "a=b");
    ck_assert_ptr_null(virt_kv_lookup(back->metadata, "missing"));
    /* libvirt hands the element back under its prefix; local names match */
    g_autofree char *prefixed = g_strdup(
        "<oc:sandbox xmlns:oc=\"" VIRT_META_URI "\"><oc:template>t1</oc:template>"
        "<oc:timeout>0</oc:timeout><oc:meta name=\"k\">v</oc:meta></oc:sandbox>");
    g_autoptr(VirtRecord) p = virt_record_from_xml(prefixed, NULL);
    ck_assert_str_eq(p->template_name, "t1");
    ck_assert_uint_eq(p->timeout_s, 0);
    ck_assert(!p->creating);
    ck_assert_int_eq(p->last_wake, 0);
    ck_assert_ptr_null(p->origin);
    ck_assert_ptr_null(p->workdir);
    ck_assert_ptr_null(p->user);
    ck_assert_ptr_null(p->agent);
    ck_assert(!p->pool);
    ck_assert_str_eq(virt_kv_lookup(p->metadata, "k"), "v");
    /* the element itself is written without a prefix: libvirt adds one, and
     * a prefix of ours would come back doubled */
    ck_assert_ptr_null(strstr(xml, "oc:"));
    ck_assert_ptr_null(virt_record_from_xml("<sandbox><template>", NULL));
    ck_assert_ptr_null(back->network);
    ck_assert_ptr_null(p->network);
}
END_TEST

START_TEST(test_record_network)
{
    g_autoptr(VirtRecord) r = sample();
    char *allow[] = { "10.0.2.2:8080", "<odd & name>", NULL }, *deny[] = { "10.0.0.0/8", NULL };
    GError *err = NULL;

    r->network = net_policy_new();
    r->network->allow_out = g_strdupv(allow);
    r->network->deny_out = g_strdupv(deny);
    r->network->block_all = TRUE;
    g_autofree char *xml = virt_record_to_xml(r);
    g_autoptr(VirtRecord) back = virt_record_from_xml(xml, &err);
    ck_assert_msg(back, "%s", err ? err->message : "");
    ck_assert_ptr_nonnull(back->network);
    ck_assert(back->network->block_all);
    ck_assert_uint_eq(g_strv_length(back->network->allow_out), 2);
    ck_assert_str_eq(back->network->allow_out[0], "10.0.2.2:8080");
    ck_assert_str_eq(back->network->allow_out[1], "<odd & name>");
    ck_assert_uint_eq(g_strv_length(back->network->deny_out), 1);
    ck_assert_str_eq(back->network->deny_out[0], "10.0.0.0/8");
    /* the other fields are not disturbed by the nested elements */
    ck_assert_str_eq(virt_kv_lookup(back->metadata, "eq"), "a=b");
    g_autoptr(VirtRecord) copy = virt_record_copy(back);
    ck_assert_str_eq(copy->network->allow_out[1], "<odd & name>");
    ck_assert(copy->network->block_all);
    /* an empty policy element: a policy that restricts nothing */
    g_autoptr(VirtRecord) e = virt_record_from_xml(
        "<sandbox><template>t</template><network></network></sandbox>", NULL);
    ck_assert_ptr_nonnull(e->network);
    ck_assert(!net_policy_restricts(e->network));
}
END_TEST

START_TEST(test_domain_xml)
{
    g_autoptr(VirtRecord) r = sample();
    VirtDomainSpec spec = { .domain_type = "qemu", .kernel = "/k", .initrd = "/i",
                            .disk = "/s/disk.qcow2", .console_log = "/s/console.log",
                            .record = r };
    g_autofree char *xml = virt_domain_xml(&spec);

    ck_assert_ptr_nonnull(strstr(xml, "<domain type='qemu'>"));
    ck_assert_ptr_nonnull(strstr(xml, "<name>sb-0123456789ab</name>"));
    ck_assert_ptr_nonnull(strstr(xml, "<sandbox xmlns='" VIRT_META_URI "'>"));
    ck_assert_ptr_nonnull(strstr(xml, "<memory unit='MiB'>1024</memory>"));
    ck_assert_ptr_nonnull(strstr(xml, "<vcpu>2</vcpu>"));
    ck_assert_ptr_nonnull(strstr(xml, "oc.id=sb-0123456789ab norandmaps</cmdline>"));
    ck_assert_ptr_nonnull(strstr(xml, "name='" VIRT_AGENT_PORT "'"));
    ck_assert_ptr_nonnull(strstr(xml, "&lt;my &amp; &quot;app&quot;&gt;"));
    ck_assert_ptr_null(strstr(xml, "<interface"));
    spec.nic = TRUE;
    g_autofree char *nic_xml = virt_domain_xml(&spec);
    ck_assert_ptr_nonnull(strstr(nic_xml, "<interface type='user'>"));
    ck_assert_ptr_nonnull(strstr(nic_xml, "<model type='virtio'/>"));

    spec.domain_type = "kvm";
    g_autofree char *kvm_xml = virt_domain_xml(&spec);
    ck_assert_ptr_nonnull(strstr(kvm_xml, "oc.id=sb-0123456789ab</cmdline>"));

    const char *live =
        "<domain><devices>"
        "<channel type='unix'><source mode='bind' path='/run/other.sock'/>"
        "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
        "<channel type='unix'><source mode='bind' path='/run/agent.sock'/>"
        "<target type='virtio' name='oc.agent'/></channel>"
        "</devices></domain>";
    g_autofree char *path = virt_domain_xml_channel_path(live, VIRT_AGENT_PORT, NULL);
    ck_assert_str_eq(path, "/run/agent.sock");
    g_autofree char *other = virt_domain_xml_channel_path(live, "org.qemu.guest_agent.0", NULL);
    ck_assert_str_eq(other, "/run/other.sock");
    GError *err = NULL;
    ck_assert_ptr_null(virt_domain_xml_channel_path(live, "oc.missing", &err));
    ck_assert_int_eq(err->code, OC_EVIRT);
    g_error_free(err);
}
END_TEST

static void touch(const char *path)
{
    ck_assert(g_file_set_contents(path, "x", 1, NULL));
}

START_TEST(test_template_store)
{
    g_autofree char *state = g_dir_make_tmp("oc-store-XXXXXX", NULL);
    g_autofree char *tdir = g_build_filename(state, "templates", "base", NULL);
    g_autofree char *v1 = g_build_filename(tdir, "disk-aaaa.qcow2", NULL);
    g_autofree char *v2 = g_build_filename(tdir, "disk-bbbb.qcow2", NULL);
    g_autofree char *link = g_build_filename(tdir, "disk.qcow2", NULL);
    GError *err = NULL;

    ck_assert_int_eq(g_mkdir_with_parents(tdir, 0755), 0);
    touch(v1);
    ck_assert_int_eq(symlink("disk-aaaa.qcow2", link), 0);
    g_autofree char *got1 = image_template_disk(state, "base", &err);
    ck_assert_msg(got1, "%s", err ? err->message : "");
    ck_assert(g_str_has_suffix(got1, "/templates/base/disk-aaaa.qcow2"));

    /* a rebuild moves the link; a new overlay gets the new version */
    touch(v2);
    ck_assert_int_eq(unlink(link), 0);
    ck_assert_int_eq(symlink("disk-bbbb.qcow2", link), 0);
    g_autofree char *got2 = image_template_disk(state, "base", NULL);
    ck_assert(g_str_has_suffix(got2, "/templates/base/disk-bbbb.qcow2"));

    ck_assert_ptr_null(image_template_disk(state, "nope", &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err->message, "'nope'"));
    ck_assert_ptr_nonnull(strstr(err->message, "available templates: base"));
    g_clear_error(&err);
    ck_assert_ptr_null(image_template_disk(state, "../etc", &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    g_clear_error(&err);

    unlink(link);
    unlink(v1);
    unlink(v2);
    g_rmdir(tdir);
    g_autofree char *tparent = g_path_get_dirname(tdir);
    g_rmdir(tparent);
    g_rmdir(state);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("records");
    TCase *tc = tcase_create("records");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_record_roundtrip);
    tcase_add_test(tc, test_record_network);
    tcase_add_test(tc, test_domain_xml);
    tcase_add_test(tc, test_template_store);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
