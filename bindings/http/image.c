/* image.c: Image manifests to oc_build_step.
 *
 *   apt_install {packages}        APT
 *   pip_install {packages}        RUN python3 -m pip install (needs pip in the image)
 *   run {commands}                one RUN per command
 *   env {vars}                    one ENV per variable
 *   workdir {path}                WORKDIR
 *   add_file {path, content}      COPY of the content, written to a context directory
 *   add_dir {path, files}         COPY of a directory holding the files
 *
 * The content hash that names the template covers the base and the steps,
 * file contents included, as the SDK's cacheKey() does (memory is a
 * resource, not content). */
#include "image.h"
#include "body.h"
#include "route.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
    char *path;     /* relative to the context directory */
    GBytes *data;
} HttpImageFile;

static void file_free(gpointer p)
{
    HttpImageFile *f = p;

    g_free(f->path);
    g_bytes_unref(f->data);
    g_free(f);
}

static gboolean step_fail(GError **error, guint i, const char *type, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static gboolean step_fail(GError **error, guint i, const char *type, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, HTTP_BODY_ERROR, 0, "image step %u (%s): %s", i + 1, type ? type : "?",
                msg);
    return FALSE;
}

static const char *str_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

/* A non-empty array of non-empty strings, as a new GStrv; NULL if it is not. */
static GStrv str_array(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    JsonArray *a;

    if (!n || !JSON_NODE_HOLDS_ARRAY(n))
        return NULL;
    a = json_node_get_array(n);
    if (json_array_get_length(a) == 0)
        return NULL;
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING ||
            !*json_node_get_string(e))
            return NULL;
        g_strv_builder_add(b, json_node_get_string(e));
    }
    return g_strv_builder_end(b);
}

static void add_step(HttpImage *img, uint32_t kind, GStrv args)
{
    oc_build_step s = { .kind = kind, .args = (const char *const *)args };

    g_ptr_array_add(img->args, args);
    g_array_append_val(img->steps, s);
}

static GStrv strv2(const char *a, const char *b)
{
    GStrv v = g_new0(char *, 3);

    v[0] = g_strdup(a);
    v[1] = g_strdup(b);
    return v;
}

static GStrv strv1(const char *a)
{
    return strv2(a, NULL);
}

/* base64 (the SDK's encoding) or, without one, the string's own bytes. */
static GBytes *content_of(JsonObject *args, const char *member, const char *encoding)
{
    const char *text = str_member(args, member);
    gsize len = 0;
    guchar *raw;

    if (!text)
        return NULL;
    if (!encoding || strcmp(encoding, "utf8") == 0 || strcmp(encoding, "utf-8") == 0)
        return g_bytes_new(text, strlen(text));
    if (strcmp(encoding, "base64") != 0)
        return NULL;
    raw = g_base64_decode(text, &len);
    return g_bytes_new_take(raw, len);
}

/* A path under the context: relative, no empty, "." or ".." segment. */
static gboolean safe_relative(const char *p)
{
    g_auto(GStrv) segs = NULL;

    if (!p || !*p || p[0] == '/')
        return FALSE;
    segs = g_strsplit(p, "/", -1);
    for (char **s = segs; *s; s++)
        if (!**s || strcmp(*s, ".") == 0 || strcmp(*s, "..") == 0)
            return FALSE;
    return TRUE;
}

static gboolean parse_copy(HttpImage *img, guint i, const char *type, JsonObject *args,
                           GError **error)
{
    const char *dest = str_member(args, "path");
    g_autofree char *src = g_strdup_printf("s%u", i + 1);

    if (!dest || dest[0] != '/')
        return step_fail(error, i, type, "'path' must be an absolute path in the sandbox");
    if (strcmp(type, "add_file") == 0) {
        GBytes *data = content_of(args, "content", str_member(args, "encoding"));
        HttpImageFile *f;

        if (!data)
            return step_fail(error, i, type, "'content' must be a string, base64 when "
                             "'encoding' is \"base64\"");
        f = g_new0(HttpImageFile, 1);
        f->path = g_strdup(src);
        f->data = data;
        g_ptr_array_add(img->files, f);
    } else {
        JsonNode *n = json_object_get_member(args, "files");
        JsonArray *a = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
        HttpImageFile *dir = g_new0(HttpImageFile, 1);

        if (!a)
            return step_fail(error, i, type, "'files' must be an array of {relativePath, "
                             "content}");
        dir->path = g_strdup(src); /* no data: a directory, so that an empty one is made */
        g_ptr_array_add(img->files, dir);
        for (guint k = 0; k < json_array_get_length(a); k++) {
            JsonNode *e = json_array_get_element(a, k);
            JsonObject *fo = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
            const char *rel = str_member(fo, "relativePath");
            GBytes *data = content_of(fo, "content", "base64");
            HttpImageFile *f;

            if (!safe_relative(rel) || !data) {
                g_clear_pointer(&data, g_bytes_unref);
                return step_fail(error, i, type, "file %u needs a relative 'relativePath' "
                                 "(no '..') and base64 'content'", k + 1);
            }
            f = g_new0(HttpImageFile, 1);
            f->path = g_build_filename(src, rel, NULL);
            f->data = data;
            g_ptr_array_add(img->files, f);
        }
    }
    add_step(img, OC_BUILD_STEP_COPY, strv2(src, dest));
    return TRUE;
}

static gboolean parse_step(HttpImage *img, guint i, JsonNode *node, GError **error)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *type = str_member(o, "type");
    JsonNode *an = o ? json_object_get_member(o, "args") : NULL;
    JsonObject *args = an && JSON_NODE_HOLDS_OBJECT(an) ? json_node_get_object(an) : NULL;

    if (!type || !args)
        return step_fail(error, i, type, "a step is {\"type\": ..., \"args\": {...}}");
    if (strcmp(type, "apt_install") == 0 || strcmp(type, "pip_install") == 0) {
        GStrv pkgs = str_array(args, "packages");

        if (!pkgs)
            return step_fail(error, i, type, "'packages' must be a non-empty array of names");
        if (type[0] == 'a') {
            add_step(img, OC_BUILD_STEP_APT, pkgs);
        } else {
            /* Debian's pip refuses the system environment (PEP 668) unless told */
            g_autoptr(GString) cmd = g_string_new(
                "python3 -m pip --version >/dev/null 2>&1 || { echo 'pipInstall needs pip in "
                "the image: put aptInstall([\"python3-pip\"]) before it' >&2; exit 1; }; "
                "python3 -m pip install --no-cache-dir --break-system-packages --");
            for (char **p = pkgs; *p; p++) {
                g_autofree char *q = g_shell_quote(*p);
                g_string_append_printf(cmd, " %s", q);
            }
            g_strfreev(pkgs);
            add_step(img, OC_BUILD_STEP_RUN, strv1(cmd->str));
        }
    } else if (strcmp(type, "run") == 0) {
        g_auto(GStrv) cmds = str_array(args, "commands");

        if (!cmds)
            return step_fail(error, i, type, "'commands' must be a non-empty array of "
                             "shell commands");
        for (char **c = cmds; *c; c++)
            add_step(img, OC_BUILD_STEP_RUN, strv1(*c));
    } else if (strcmp(type, "env") == 0) {
        JsonNode *vn = json_object_get_member(args, "vars");
        JsonObject *vars = vn && JSON_NODE_HOLDS_OBJECT(vn) ? json_node_get_object(vn) : NULL;
        g_autoptr(GList) keys = vars ? json_object_get_members(vars) : NULL;

        if (!vars)
            return step_fail(error, i, type, "'vars' must be an object of strings");
        for (GList *k = keys; k; k = k->next) {
            const char *v = str_member(vars, k->data);
            if (!v || !*(const char *)k->data || strchr(k->data, '='))
                return step_fail(error, i, type, "variable '%s' needs a name without '=' "
                                 "and a string value", (const char *)k->data);
            add_step(img, OC_BUILD_STEP_ENV, strv2(k->data, v));
        }
    } else if (strcmp(type, "workdir") == 0) {
        const char *p = str_member(args, "path");

        if (!p || p[0] != '/')
            return step_fail(error, i, type, "'path' must be an absolute path");
        add_step(img, OC_BUILD_STEP_WORKDIR, strv1(p));
    } else if (strcmp(type, "add_file") == 0 || strcmp(type, "add_dir") == 0) {
        return parse_copy(img, i, type, args, error);
    } else {
        return step_fail(error, i, type, "this server has no such step; it builds apt_install, "
                         "pip_install, run, env, workdir, add_file and add_dir");
    }
    return TRUE;
}

/* The hash covers what the template is made of: the base and the steps as
 * sent (file contents are inside them). */
static char *content_hash(JsonObject *manifest)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    JsonObject *o = json_object_new();
    JsonNode *root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;

    json_object_set_member(o, "base", json_node_copy(json_object_get_member(manifest, "base")));
    json_object_set_member(o, "steps", json_node_copy(json_object_get_member(manifest, "steps")));
    json_node_take_object(root, o);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    json_node_unref(root);
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
}

gboolean http_image_parse(JsonObject *manifest, HttpImage *out, GError **error)
{
    const char *base = str_member(manifest, "base");
    JsonNode *sn = json_object_get_member(manifest, "steps");
    JsonArray *steps = sn && JSON_NODE_HOLDS_ARRAY(sn) ? json_node_get_array(sn) : NULL;
    gint64 mem = 0;

    memset(out, 0, sizeof *out);
    out->steps = g_array_new(FALSE, TRUE, sizeof(oc_build_step));
    out->args = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    out->files = g_ptr_array_new_with_free_func(file_free);
    if (!base || !http_valid_name(base)) {
        g_set_error(error, HTTP_BODY_ERROR, 0, "the image's 'base' must name a template");
        return FALSE;
    }
    if (!steps) {
        g_set_error(error, HTTP_BODY_ERROR, 0, "the image's 'steps' must be an array");
        return FALSE;
    }
    if (!http_body_int(manifest, "builderMemoryMB", 1, G_MAXUINT32, &mem, error))
        return FALSE;
    for (guint i = 0; i < json_array_get_length(steps); i++)
        if (!parse_step(out, i, json_array_get_element(steps, i), error))
            return FALSE;
    out->parent = g_strdup(base);
    out->memory_mb = (guint)MIN(mem, OC_MAX_MEMORY_MB);
    out->hash = content_hash(manifest);
    out->name = g_strdup_printf("img-%.32s", out->hash);
    return TRUE;
}

gboolean http_image_write_context(HttpImage *img, GError **error)
{
    if (img->files->len == 0)
        return TRUE;
    img->context_dir = g_dir_make_tmp("oc-server-image-XXXXXX", error);
    if (!img->context_dir)
        return FALSE;
    for (guint i = 0; i < img->files->len; i++) {
        HttpImageFile *f = img->files->pdata[i];
        g_autofree char *path = g_build_filename(img->context_dir, f->path, NULL);
        g_autofree char *dir = f->data ? g_path_get_dirname(path) : g_strdup(path);
        gsize len = 0;
        const char *data = f->data ? g_bytes_get_data(f->data, &len) : NULL;

        if (g_mkdir_with_parents(dir, 0755) < 0) {
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                        "cannot make %s: %s", dir, g_strerror(errno));
            return FALSE;
        }
        if (f->data && !g_file_set_contents_full(path, data ? data : "", (gssize)len,
                                                 G_FILE_SET_CONTENTS_NONE, 0644, error))
            return FALSE;
    }
    return TRUE;
}

/* Removes what http_image_write_context() made; the tree holds only what it
 * wrote (plain files and directories). */
static void remove_tree(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *child = g_build_filename(path, n, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
            remove_tree(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

void http_image_clear(HttpImage *img)
{
    if (img->context_dir)
        remove_tree(img->context_dir);
    g_clear_pointer(&img->context_dir, g_free);
    g_clear_pointer(&img->parent, g_free);
    g_clear_pointer(&img->name, g_free);
    g_clear_pointer(&img->hash, g_free);
    g_clear_pointer(&img->steps, g_array_unref);
    g_clear_pointer(&img->args, g_ptr_array_unref);
    g_clear_pointer(&img->files, g_ptr_array_unref);
}
