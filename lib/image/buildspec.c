/* buildspec.c: the steps of a template build, their checks and their
 * cache keys (see buildspec.h). */
#include "image/buildspec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/store.h"
#include "util/error.h"

/* Debian's limits, so a path or name that cannot work fails before a VM
 * starts rather than deep inside the guest. */
#define BUILD_MAX_PATH 4096
#define BUILD_MAX_NAME 64

static const char *const kind_names[] = {
    [BUILD_RUN] = "RUN", [BUILD_APT] = "APT-INSTALL", [BUILD_COPY] = "COPY",
    [BUILD_ENV] = "ENV", [BUILD_WORKDIR] = "WORKDIR", [BUILD_USER] = "USER",
    [BUILD_AGENT] = "AGENT",
};

static void step_free(gpointer p);

BuildSpec *build_spec_new(const char *parent, const char *context_dir)
{
    BuildSpec *spec = g_new0(BuildSpec, 1);
    spec->parent = g_strdup(parent);
    spec->context_dir = g_strdup(context_dir);
    spec->steps = g_ptr_array_new_with_free_func(step_free);
    return spec;
}

static void step_free(gpointer p)
{
    BuildStep *step = p;
    g_strfreev(step->args);
    g_strfreev(step->env);
    g_free(step->chown);
    g_free(step);
}

void build_spec_free(BuildSpec *spec)
{
    if (!spec)
        return;
    g_ptr_array_unref(spec->steps);
    g_free(spec->parent);
    g_free(spec->context_dir);
    g_free(spec);
}

BuildStep *build_spec_add(BuildSpec *spec, BuildStepKind kind, const char *const *args,
                          guint line)
{
    BuildStep *step = g_new0(BuildStep, 1);
    step->kind = kind;
    step->args = g_strdupv((char **)args);
    if (!step->args)
        step->args = g_new0(char *, 1);
    step->line = line;
    g_ptr_array_add(spec->steps, step);
    return step;
}

static gboolean only_chars(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && !strchr(extra, *s))
            return FALSE;
    return TRUE;
}

gboolean build_template_name_valid(const char *name, GError **error)
{
    if (name && *name && strlen(name) <= BUILD_MAX_NAME &&
        (g_ascii_islower(name[0]) || g_ascii_isdigit(name[0])) && only_chars(name, "._-")) {
        gboolean lower = TRUE;
        for (const char *p = name; *p; p++)
            lower &= !g_ascii_isupper(*p);
        if (lower)
            return TRUE;
    }
    g_set_error(error, OC_ERROR, OC_EINVAL,
                "template name '%.100s' is not valid: use 1 to %d characters of a-z, 0-9, '.', "
                "'_' and '-', starting with a letter or digit", name ? name : "(null)",
                BUILD_MAX_NAME);
    return FALSE;
}

/* A source inside the context: relative, and no component climbs out. */
static gboolean source_inside(const char *src)
{
    g_auto(GStrv) parts = g_strsplit(src, "/", -1);
    int depth = 0;
    if (src[0] == '/')
        return FALSE;
    for (char **p = parts; *p; p++) {
        if (strcmp(*p, "..") == 0)
            depth--;
        else if (**p && strcmp(*p, ".") != 0)
            depth++;
        if (depth < 0)
            return FALSE;
    }
    return TRUE;
}

/* Whether the directory holding path, symlinks resolved, is the context
 * or under it (the last component itself is copied as what it is). */
static gboolean parent_inside(const char *context_dir, const char *path)
{
    g_autofree char *parent = g_path_get_dirname(path);
    char *real_parent = realpath(parent, NULL), *real_context = realpath(context_dir, NULL);
    gsize n = real_context ? strlen(real_context) : 0;
    gboolean inside = real_parent && real_context && strncmp(real_parent, real_context, n) == 0 &&
                      (real_parent[n] == '\0' || real_parent[n] == '/' || n == 1);

    free(real_parent);
    free(real_context);
    return inside;
}

static gboolean valid_user(const char *u)
{
    g_auto(GStrv) parts = g_strsplit(u, ":", -1);
    guint n = g_strv_length(parts);
    if (n < 1 || n > 2 || strlen(u) > 2 * BUILD_MAX_NAME)
        return FALSE;
    for (guint i = 0; i < n; i++)
        if (!*parts[i] || !only_chars(parts[i], "._-") || parts[i][0] == '-')
            return FALSE;
    return TRUE;
}

static gboolean valid_package(const char *p)
{
    const char *eq = strchr(p, '=');
    g_autofree char *name = eq ? g_strndup(p, (gsize)(eq - p)) : g_strdup(p);
    if (strlen(name) < 2 || strlen(name) > 128 || !g_ascii_isalnum(name[0]) ||
        !only_chars(name, "+.-"))
        return FALSE;
    for (const char *c = name; *c; c++)
        if (g_ascii_isupper(*c))
            return FALSE;
    return !eq || (eq[1] && strlen(eq + 1) <= 128 && only_chars(eq + 1, ".+~:-"));
}

static gboolean valid_env_key(const char *k)
{
    return (g_ascii_isalpha(k[0]) || k[0] == '_') && only_chars(k, "_");
}

static gboolean step_fail(GError **error, const BuildStep *step, guint index, const char *fmt,
                          ...) G_GNUC_PRINTF(4, 5);

static gboolean step_fail(GError **error, const BuildStep *step, guint index, const char *fmt,
                          ...)
{
    g_autofree char *what = build_step_describe(step);
    g_autofree char *why = NULL;
    va_list ap;
    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (step->line)
        g_set_error(error, OC_ERROR, OC_EINVAL, "Dockerfile line %u (%s): %s", step->line, what,
                    why);
    else
        g_set_error(error, OC_ERROR, OC_EINVAL, "step %u (%s): %s", index + 1, what, why);
    return FALSE;
}

static gboolean validate_copy(const BuildSpec *spec, const BuildStep *s, guint i, GError **error)
{
    guint n = g_strv_length(s->args);
    struct stat st;

    if (n < 2)
        return step_fail(error, s, i, "COPY takes one or more sources and a destination");
    if (!spec->context_dir)
        return step_fail(error, s, i, "no build context was given to copy from");
    if (s->chown && !valid_user(s->chown))
        return step_fail(error, s, i, "--chown takes USER[:GROUP] (names or numbers)");
    if (s->chmod > 07777)
        return step_fail(error, s, i, "--chmod takes an octal mode up to 7777");
    if (!*s->args[n - 1] || strlen(s->args[n - 1]) >= BUILD_MAX_PATH)
        return step_fail(error, s, i, "the destination is empty or too long");
    for (guint k = 0; k + 1 < n; k++) {
        const char *src = s->args[k];
        g_autofree char *path = NULL;
        if (!*src || !source_inside(src))
            return step_fail(error, s, i, "source '%s' is not a path inside the build context "
                             "(relative, without '..' leading out of it)", src);
        if (strpbrk(src, "*?["))
            return step_fail(error, s, i, "source '%s': wildcards are not supported; name the "
                             "files or their directory", src);
        path = g_build_filename(spec->context_dir, src, NULL);
        if (lstat(path, &st) < 0)
            return step_fail(error, s, i, "source '%s': %s (in the build context %s)", src,
                             g_strerror(errno), spec->context_dir);
        if (!parent_inside(spec->context_dir, path))
            return step_fail(error, s, i, "source '%s' leads out of the build context through "
                             "a symlink", src);
    }
    return TRUE;
}

gboolean build_spec_validate(const BuildSpec *spec, GError **error)
{
    if (!build_template_name_valid(spec->parent, error)) {
        g_prefix_error(error, "the parent template: ");
        return FALSE;
    }
    for (guint i = 0; i < spec->steps->len; i++) {
        const BuildStep *s = spec->steps->pdata[i];
        guint n = g_strv_length(s->args);
        switch (s->kind) {
        case BUILD_RUN:
            if (n == 0 || !*s->args[0] || (!s->exec_form && n != 1))
                return step_fail(error, s, i, "RUN takes a command line, or a non-empty argv");
            break;
        case BUILD_APT:
            if (n == 0)
                return step_fail(error, s, i, "name at least one package");
            for (guint k = 0; k < n; k++)
                if (!valid_package(s->args[k]))
                    return step_fail(error, s, i, "'%s' is not a Debian package name "
                                     "(NAME or NAME=VERSION)", s->args[k]);
            break;
        case BUILD_COPY:
            if (!validate_copy(spec, s, i, error))
                return FALSE;
            break;
        case BUILD_ENV:
            if (n != 2 || !valid_env_key(s->args[0]))
                return step_fail(error, s, i, "ENV takes a KEY (letters, digits, '_', not "
                                 "starting with a digit) and a value");
            break;
        case BUILD_WORKDIR:
            if (n != 1 || s->args[0][0] != '/' || strlen(s->args[0]) >= BUILD_MAX_PATH)
                return step_fail(error, s, i, "WORKDIR takes an absolute path");
            break;
        case BUILD_USER:
            if (n != 1 || !valid_user(s->args[0]))
                return step_fail(error, s, i, "USER takes USER[:GROUP] (names or numbers)");
            break;
        case BUILD_AGENT:
            if (n == 0 || s->args[0][0] != '/' || strlen(s->args[0]) >= BUILD_MAX_PATH)
                return step_fail(error, s, i, "the agent program is named by its absolute "
                                 "path in the sandbox, then its arguments");
            break;
        default:
            return step_fail(error, s, i, "unknown step kind %d", (int)s->kind);
        }
    }
    return TRUE;
}

char *build_step_describe(const BuildStep *step)
{
    GString *out = g_string_new(step->kind >= BUILD_RUN && step->kind <= BUILD_AGENT
                                    ? kind_names[step->kind] : "?");
    if (step->kind == BUILD_ENV && g_strv_length(step->args) == 2) {
        g_string_append_printf(out, " %s=%s", step->args[0], step->args[1]);
    } else {
        for (char **a = step->args; *a; a++)
            g_string_append_printf(out, " %s", *a);
    }
    if (out->len > 200) {
        g_string_truncate(out, 197);
        g_string_append(out, "...");
    }
    return g_string_free(out, FALSE);
}

/* ---- cache keys ---- */


static void put(GChecksum *sum, const char *s)
{
    g_checksum_update(sum, (const guchar *)(s ? s : ""), (gssize)strlen(s ? s : ""));
    g_checksum_update(sum, (const guchar *)"", 1); /* the NUL ends it: no two fields run together */
}

static void put_strv(GChecksum *sum, char **v)
{
    char n[16];
    g_snprintf(n, sizeof n, "%u", v ? g_strv_length(v) : 0);
    put(sum, n);
    for (; v && *v; v++)
        put(sum, *v);
}

static gboolean put_file_bytes(GChecksum *sum, const char *path, GError **error)
{
    guchar buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0)
        g_checksum_update(sum, buf, n);
    if (n < 0)
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read %s: %s", path, g_strerror(errno));
    close(fd);
    return n == 0;
}

/* Every name, type, permission and byte under path (a file, a symlink as
 * its target, or a directory in name order), as the copy will see it. */
static gboolean put_tree(GChecksum *sum, const char *path, const char *rel, int depth,
                         GError **error)
{
    struct stat st;
    char head[64];

    if (depth > 128) {
        g_set_error(error, OC_ERROR, OC_ELIMIT, "%s: more than 128 directories deep", path);
        return FALSE;
    }
    if (lstat(path, &st) < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot read %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    g_snprintf(head, sizeof head, "%o", (unsigned)st.st_mode);
    put(sum, rel);
    put(sum, head);
    if (S_ISLNK(st.st_mode)) {
        g_autofree char *target = g_file_read_link(path, NULL);
        put(sum, target);
        return TRUE;
    }
    if (S_ISREG(st.st_mode))
        return put_file_bytes(sum, path, error);
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is not a file, directory or symlink", path);
        return FALSE;
    }
    g_autoptr(GDir) dir = g_dir_open(path, 0, error);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    if (!dir)
        return FALSE;
    while ((name = g_dir_read_name(dir)))
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, image_strcmp_indirect);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *child = g_build_filename(path, names->pdata[i], NULL);
        g_autofree char *crel = g_build_filename(rel, names->pdata[i], NULL);
        if (!put_tree(sum, child, crel, depth + 1, error))
            return FALSE;
    }
    return TRUE;
}

char *build_step_key(const char *prev, const BuildStep *step, const char *context_dir,
                     GError **error)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    char num[32];

    /* Bumped when what a step does for the same text changes (2: APT
     * removes the package lists after installing). */
    put(sum, "oc-build-step 2");
    put(sum, prev);
    put(sum, kind_names[step->kind]);
    put_strv(sum, step->args);
    put_strv(sum, step->env);
    g_snprintf(num, sizeof num, "%d %o", step->exec_form, step->chmod);
    put(sum, num);
    put(sum, step->chown);
    if (step->kind == BUILD_COPY) {
        guint n = g_strv_length(step->args);
        for (guint k = 0; k + 1 < n; k++) {
            g_autofree char *path = g_build_filename(context_dir, step->args[k], NULL);
            if (!put_tree(sum, path, step->args[k], 0, error))
                return NULL;
        }
    }
    return g_strdup(g_checksum_get_string(sum));
}
