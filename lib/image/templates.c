/* templates.c: template records, their users and their removal (see
 * templates.h).  Users are found from the disks themselves: every qcow2
 * chain that leaves the template's directory and reaches into it, so
 * nothing can be missed that a bookkeeping file forgot. */
#include "image/templates.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/checkpoints.h"
#include "image/store.h"
#include "util/error.h"
#include "util/tree.h"

static char *template_dir(const char *state_dir, const char *name)
{
    return g_build_filename(state_dir, "templates", name, NULL);
}

/* The bytes the directory's files take (sparse disks count what they use). */
static guint64 dir_bytes(const char *dir, int depth)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;
    guint64 sum = 0;
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        struct stat st;
        if (lstat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 2)
            sum += dir_bytes(p, depth + 1);
        else if (S_ISREG(st.st_mode))
            sum += (guint64)st.st_blocks * 512;
    }
    return sum;
}

/* A member holding an array of strings, as a NULL-terminated vector (empty
 * when absent). */
static char **string_array(JsonObject *o, const char *member)
{
    JsonNode *node = json_object_get_member(o, member);
    JsonArray *a = node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
    guint n = a ? json_array_get_length(a) : 0;
    char **v = g_new0(char *, n + 1);

    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *s = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                            ? json_node_get_string(e) : NULL;
        v[i] = g_strdup(s ? s : "");
    }
    return v;
}

ImageTemplate *image_template_load(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *disk = image_template_disk(state_dir, name, error);
    g_autofree char *dir = NULL, *path = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(ImageTemplate) t = NULL;
    JsonObject *o;

    if (!disk)
        return NULL;
    dir = template_dir(state_dir, name);
    path = g_build_filename(dir, "template.json", NULL);
    if (!json_parser_load_from_file(parser, path, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_set_error(error, OC_ERROR, OC_EIO, "template %s: %s is missing or damaged (rebuild "
                    "the template)", name, path);
        return NULL;
    }
    o = json_node_get_object(json_parser_get_root(parser));
    t = g_new0(ImageTemplate, 1);
    t->name = g_strdup(name);
    t->key = g_strdup(json_object_get_string_member_with_default(o, "key", ""));
    t->parent = g_strdup(json_object_get_string_member_with_default(o, "parent", NULL));
    t->size_bytes = (guint64)json_object_get_int_member_with_default(o, "size_bytes", 0);
    const char *created = json_object_get_string_member_with_default(o, "created", NULL);
    g_autoptr(GDateTime) when = created ? g_date_time_new_from_iso8601(created, NULL) : NULL;
    t->created_at = when ? g_date_time_to_unix(when) : 0;
    t->disk_bytes = dir_bytes(dir, 0);
    t->steps = string_array(o, "steps");
    t->env = string_array(o, "env");
    t->workdir = g_strdup(json_object_get_string_member_with_default(o, "workdir", NULL));
    t->user = g_strdup(json_object_get_string_member_with_default(o, "user", NULL));
    t->imported_from = g_strdup(json_object_get_string_member_with_default(o, "imported_from",
                                                                           NULL));
    if (json_object_has_member(o, "agent")) {
        t->agent = string_array(o, "agent");
        if (!t->agent[0] || t->agent[0][0] != '/')
            g_clear_pointer(&t->agent, g_strfreev); /* as if none: the default runs */
    }
    return g_steal_pointer(&t);
}

void image_template_free(ImageTemplate *t)
{
    if (!t)
        return;
    g_free(t->name);
    g_free(t->key);
    g_free(t->parent);
    g_strfreev(t->steps);
    g_strfreev(t->env);
    g_free(t->workdir);
    g_free(t->user);
    g_free(t->imported_from);
    g_strfreev(t->agent);
    g_free(t);
}

/* ---- users ---- */

/* Whether the chain from disk reaches a file under prefix ("DIR/"). */
static gboolean chain_reaches(const char *disk, const char *prefix)
{
    g_autoptr(GPtrArray) chain = image_qcow2_chain(disk);
    for (guint i = 1; i < chain->len; i++) {
        g_autofree char *canon = g_canonicalize_filename(chain->pdata[i], NULL);
        if (g_str_has_prefix(canon, prefix))
            return TRUE;
    }
    return FALSE;
}

/* Adds "KIND NAME" for each DIR/NAME whose disks (files matching glob, and
 * the disk.qcow2 of its subdirectories: a template's snapshots) have a chain
 * reaching prefix.  skip: a NAME not to look at. */
static void scan(GPtrArray *users, const char *dir, const char *glob, const char *kind,
                 const char *skip, const char *prefix)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPatternSpec) pat = g_pattern_spec_new(glob);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *sub = g_build_filename(dir, n, NULL);
        g_autoptr(GDir) sd = NULL;
        const char *f;
        gboolean used = FALSE;
        if (n[0] == '.' || g_strcmp0(n, skip) == 0 || !(sd = g_dir_open(sub, 0, NULL)))
            continue;
        while (!used && (f = g_dir_read_name(sd))) {
            g_autofree char *p = g_build_filename(sub, f, NULL);
            struct stat st;
            if (lstat(p, &st) < 0 || S_ISLNK(st.st_mode))
                continue;
            if (S_ISDIR(st.st_mode)) {
                g_autofree char *inner = g_build_filename(p, "disk.qcow2", NULL);
                used = g_file_test(inner, G_FILE_TEST_IS_REGULAR) && chain_reaches(inner, prefix);
            } else if (g_pattern_spec_match_string(pat, f)) {
                used = chain_reaches(p, prefix);
            }
        }
        if (used)
            g_ptr_array_add(users, g_strdup_printf("%s %s", kind, n));
    }
}

GPtrArray *image_template_users(const char *state_dir, const char *name)
{
    g_autofree char *tdir = template_dir(state_dir, name);
    g_autofree char *canon = g_canonicalize_filename(tdir, NULL);
    g_autofree char *prefix = g_strconcat(canon, "/", NULL);
    g_autofree char *sandboxes = g_build_filename(state_dir, "sandboxes", NULL);
    g_autofree char *checkpoints = g_build_filename(state_dir, "checkpoints", NULL);
    g_autofree char *templates = g_build_filename(state_dir, "templates", NULL);
    GPtrArray *users = g_ptr_array_new_with_free_func(g_free);

    scan(users, sandboxes, "*.qcow2", "sandbox", NULL, prefix);
    scan(users, checkpoints, "disk.qcow2", "checkpoint", NULL, prefix);
    scan(users, templates, "disk-*.qcow2", "template", name, prefix);
    g_ptr_array_sort(users, image_strcmp_indirect);
    return users;
}

int image_template_use_lock(const char *state_dir, const char *name, gboolean exclusive,
                            GError **error)
{
    g_autofree char *path = g_build_filename(state_dir, "templates", name, "use.lock", NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(error, OC_ERROR, errno == ENOENT ? OC_ENOTFOUND : OC_EIO,
                    "cannot open %s: %s", path, g_strerror(errno));
        return -1;
    }
    if (flock(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            g_set_error(error, OC_ERROR, OC_ESTATE, "template %s is in use: a sandbox is being "
                        "created from it right now; try again", name);
        else
            g_set_error(error, OC_ERROR, OC_EIO, "cannot lock %s: %s", path, g_strerror(e));
        return -1;
    }
    return fd;
}

/* ---- removal ---- */

gboolean image_template_remove(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *dir = template_dir(state_dir, name);
    g_autofree char *rand = g_strdup_printf("%08x", g_random_int());
    g_autofree char *leaf = g_strdup_printf(".removing-%s-%s", name, rand);
    g_autofree char *aside = g_build_filename(state_dir, "templates", leaf, NULL);

    if (g_rename(dir, aside) < 0) {
        g_set_error(error, OC_ERROR, errno == ENOENT ? OC_ENOTFOUND : OC_EIO,
                    "cannot remove template %s: %s", name, g_strerror(errno));
        return FALSE;
    }
    if (!tree_remove(aside, error)) {
        g_prefix_error(error, "template %s is gone from listings, but removing it failed "
                       "(remove it by hand): ", name);
        return FALSE;
    }
    return TRUE;
}
