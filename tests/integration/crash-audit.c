/* crash-audit.c: see crash-audit.h.  It reads disk chains with qemu-img and
 * domains with libvirt, not with the library's own code, so that it checks
 * the library rather than agreeing with it. */
#include "crash-audit.h"

#include <dirent.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SAVE_DIR "/var/lib/libvirt/qemu/save"

void crash_audit_init(CrashAudit *a, virConnectPtr conn, const char *state_dir)
{
    a->conn = conn;
    a->state_dir = state_dir;
    a->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

void crash_audit_clear(CrashAudit *a)
{
    g_hash_table_unref(a->seen);
}

static int not_dot(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static GPtrArray *names_in(const char *dir)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    struct dirent **list = NULL;
    int n = scandir(dir, &list, not_dot, alphasort);

    for (int i = 0; i < n; i++) {
        g_ptr_array_add(names, g_strdup(list[i]->d_name));
        free(list[i]);
    }
    free(list);
    return names;
}

/* The source file of the domain's disk, from its XML. */
static char *domain_disk(virDomainPtr dom)
{
    g_autofree char *xml = virDomainGetXMLDesc(dom, 0);
    const char *disk = xml ? strstr(xml, "device='disk'") : NULL;
    const char *src = disk ? strstr(disk, "<source file='") : NULL;
    const char *end = src ? strchr(src + 14, '\'') : NULL;

    return end ? g_strndup(src + 14, end - src - 14) : NULL;
}

/* The file names of top's backing chain (top first), as qemu-img reads it. */
static GPtrArray *chain_of(const char *top)
{
    const char *argv[] = { "qemu-img", "info", "-U", "--backing-chain", "--output=json", top, NULL };
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    GPtrArray *chain = g_ptr_array_new_with_free_func(g_free);
    JsonNode *root;
    int status = -1;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &out, NULL, &status, NULL) || status != 0 ||
        !json_parser_load_from_data(parser, out, -1, NULL))
        return chain;
    root = json_parser_get_root(parser);
    if (!JSON_NODE_HOLDS_ARRAY(root))
        return chain;
    for (guint i = 0; i < json_array_get_length(json_node_get_array(root)); i++) {
        JsonObject *o = json_array_get_object_element(json_node_get_array(root), i);
        if (o && json_object_has_member(o, "filename"))
            g_ptr_array_add(chain, g_strdup(json_object_get_string_member(o, "filename")));
    }
    return chain;
}

static gboolean same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

static gboolean chain_has_file(GPtrArray *chain, const char *path)
{
    for (guint i = 0; i < chain->len; i++)
        if (same_file(chain->pdata[i], path))
            return TRUE;
    return FALSE;
}

typedef struct {
    CrashAudit *a;
    GString *problems;
    GHashTable *listed;  /* id -> GINT_TO_POINTER(state) */
    GHashTable *chains;  /* id -> GPtrArray of its disk chain */
} Run;

static void problem(Run *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void problem(Run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_string_append_vprintf(r->problems, fmt, ap);
    va_end(ap);
    g_string_append_c(r->problems, '\n');
}

static int libvirt_view(virDomainPtr dom)
{
    int state, reason;

    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return -1;
    if (state == VIR_DOMAIN_RUNNING)
        return OC_STATE_RUNNING;
    if (state == VIR_DOMAIN_SHUTOFF)
        return virDomainHasManagedSaveImage(dom, 0) == 1 ? OC_STATE_HIBERNATED : OC_STATE_STOPPED;
    return state == VIR_DOMAIN_PAUSED ? -2 : -3;
}

static void check_domains(Run *r)
{
    g_autofree char *ours = g_build_filename(r->a->state_dir, "sandboxes", "", NULL);
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(r->a->conn, &doms, 0);

    for (int i = 0; i < n; i++) {
        const char *id = virDomainGetName(doms[i]);
        g_autofree char *disk = domain_disk(doms[i]);
        gpointer listed;
        virDomainJobInfo job;
        int view;

        if (!g_str_has_prefix(id, "sb-") || !disk || !g_str_has_prefix(disk, ours)) {
            virDomainFree(doms[i]);
            continue; /* another state directory's */
        }
        g_hash_table_add(r->a->seen, g_strdup(id));
        view = libvirt_view(doms[i]);
        if (!g_hash_table_lookup_extended(r->listed, id, NULL, &listed))
            problem(r, "domain %s (libvirt state %d, %s) is not listed", id, view,
                    virDomainIsPersistent(doms[i]) == 1 ? "persistent" : "transient");
        else if (virDomainGetJobInfo(doms[i], &job) == 0 && job.type != VIR_DOMAIN_JOB_NONE)
            problem(r, "domain %s still runs a libvirt job", id);
        else if (view == -2)
            problem(r, "domain %s is paused", id);
        else if (view != GPOINTER_TO_INT(listed))
            problem(r, "%s is listed as %s, libvirt says %s", id,
                    oc_sandbox_state_name(GPOINTER_TO_INT(listed)), oc_sandbox_state_name(view));
        else
            g_hash_table_insert(r->chains, g_strdup(id), chain_of(disk));
        virDomainFree(doms[i]);
    }
    free(doms);
}

/* Files an operation leaves only while it runs. */
static const char *const transient_files[] = { "restore.fifo", "disks.pending", "hibernating",
                                               NULL };

static void check_sandbox_dirs(Run *r)
{
    g_autofree char *root = g_build_filename(r->a->state_dir, "sandboxes", NULL);
    g_autoptr(GPtrArray) ids = names_in(root);

    for (guint i = 0; i < ids->len; i++) {
        const char *id = ids->pdata[i];
        g_autofree char *dir = g_build_filename(root, id, NULL);
        g_autoptr(GPtrArray) files = names_in(dir);
        GPtrArray *chain = g_hash_table_lookup(r->chains, id);

        g_hash_table_add(r->a->seen, g_strdup(id));
        if (!g_hash_table_contains(r->listed, id)) {
            problem(r, "directory %s has no listed sandbox", dir);
            continue;
        }
        for (guint j = 0; j < files->len && chain; j++) {
            const char *f = files->pdata[j];
            g_autofree char *p = g_build_filename(dir, f, NULL);
            if (g_strv_contains(transient_files, f))
                problem(r, "%s is left over", p);
            else if (g_str_has_suffix(f, ".qcow2") && !chain_has_file(chain, p))
                problem(r, "%s is a disk that %s does not build on", p, id);
        }
    }
}

static gboolean any_chain_names(Run *r, const char *path)
{
    GHashTableIter it;
    gpointer chain;

    g_hash_table_iter_init(&it, r->chains);
    while (g_hash_table_iter_next(&it, NULL, &chain))
        for (guint i = 0; i < ((GPtrArray *)chain)->len; i++)
            if (g_str_equal(((GPtrArray *)chain)->pdata[i], path))
                return TRUE;
    return FALSE;
}

static void check_checkpoint_dirs(Run *r)
{
    g_autofree char *root = g_build_filename(r->a->state_dir, "checkpoints", NULL);
    g_autoptr(GPtrArray) ids = names_in(root);

    for (guint i = 0; i < ids->len; i++) {
        g_autofree char *dir = g_build_filename(root, ids->pdata[i], NULL);
        g_autofree char *meta = g_build_filename(dir, "checkpoint.json", NULL);
        g_autofree char *memory = g_build_filename(dir, "memory.save", NULL);
        g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
        g_autofree char *lock = g_build_filename(dir, "create.lock", NULL);

        if (g_file_test(lock, G_FILE_TEST_EXISTS))
            problem(r, "%s is left over", lock);
        if (g_file_test(meta, G_FILE_TEST_EXISTS)) {
            if (!g_file_test(memory, G_FILE_TEST_EXISTS) || !g_file_test(disk, G_FILE_TEST_EXISTS))
                problem(r, "checkpoint %s lacks its memory image or disk", dir);
            continue;
        }
        if (g_file_test(memory, G_FILE_TEST_EXISTS))
            problem(r, "%s is the memory image of a checkpoint that does not exist", memory);
        if (!any_chain_names(r, disk))
            problem(r, "%s is left over: no sandbox builds on its disk", dir);
    }
}

static void check_save_images(Run *r)
{
    GHashTableIter it;
    gpointer id;

    g_hash_table_iter_init(&it, r->a->seen);
    while (g_hash_table_iter_next(&it, &id, NULL)) {
        g_autofree char *file = g_strdup_printf("%s/%s.save", SAVE_DIR, (char *)id);
        gpointer state;
        if (g_file_test(file, G_FILE_TEST_EXISTS) &&
            (!g_hash_table_lookup_extended(r->listed, id, NULL, &state) ||
             GPOINTER_TO_INT(state) != OC_STATE_HIBERNATED))
            problem(r, "%s is left over: %s is not a hibernated sandbox", file, (char *)id);
    }
}

char *crash_audit_run(CrashAudit *a)
{
    Run r = {
        .a = a,
        .problems = g_string_new(NULL),
        .listed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .chains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)g_ptr_array_unref),
    };
    oc_context *ctx = NULL;
    oc_sandbox_list *list = NULL;
    oc_error *err = NULL;

    if (oc_context_new(&ctx, NULL, &err) < 0 || oc_sandbox_list_get(&list, ctx, NULL, 0, &err) < 0) {
        problem(&r, "cannot list: %s", oc_error_message(err));
        oc_error_free(err);
    }
    for (size_t i = 0; i < oc_sandbox_list_count(list); i++) {
        const oc_sandbox_info *info = oc_sandbox_list_at(list, i);
        g_hash_table_insert(r.listed, g_strdup(oc_sandbox_info_id(info)),
                            GINT_TO_POINTER(oc_sandbox_info_state(info)));
    }
    oc_sandbox_list_free(list);
    oc_context_unref(ctx);
    if (r.problems->len == 0) {
        check_domains(&r);
        check_sandbox_dirs(&r);
        check_checkpoint_dirs(&r);
        check_save_images(&r);
    }
    g_hash_table_unref(r.listed);
    g_hash_table_unref(r.chains);
    return r.problems->len ? g_string_free(r.problems, FALSE) : (g_string_free(r.problems, TRUE), NULL);
}

gboolean crash_audit_wait(CrashAudit *a, int timeout_s, char **problems)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    for (;;) {
        g_free(*problems);
        *problems = crash_audit_run(a);
        if (!*problems)
            return TRUE;
        if (g_get_monotonic_time() >= end)
            return FALSE;
        g_usleep(2 * G_USEC_PER_SEC);
    }
}
