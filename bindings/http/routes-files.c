/* routes-files.c: files in the sandbox.  Each call wakes a hibernated
 * sandbox; with X-OSB-Async-Wake the wake runs in the background and the
 * call answers 503 {"waking": true} until it is done (the SDK retries). */
#include "handlers.h"
#include "sandboxes.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* The sandbox and ?path=, or NULL with the error (or 503) replied. */
static oc_sandbox *open_for_path(HttpRequest *r, const char **path)
{
    oc_sandbox *sb;

    *path = http_query(r, "path");
    if (!*path || !**path) {
        http_reply_error(r, 400, "the 'path' query parameter is required");
        return NULL;
    }
    sb = http_sandbox_open(r);
    if (sb && http_sandbox_waking(r, sb)) {
        oc_sandbox_unref(sb);
        return NULL;
    }
    return sb;
}

/* The file goes to an unlinked temporary file and is served mapped from
 * there, so a large file does not sit in the server's heap. */
static GBytes *read_spooled(HttpRequest *r, oc_sandbox *sb, const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    GMappedFile *mapped = NULL;
    oc_error *err = NULL;
    GBytes *bytes = NULL;
    int fd = g_file_open_tmp("oc-server-read-XXXXXX", &name, &error);

    if (fd < 0) {
        http_reply_error(r, 500, "cannot spool the file: %s", error->message);
        return NULL;
    }
    g_unlink(name);
    if (oc_files_read_to_fd(sb, path, fd, 0, &err) < 0)
        http_reply_oc_error(r, err);
    else if (!(mapped = g_mapped_file_new_from_fd(fd, FALSE, &error)))
        http_reply_error(r, 500, "cannot map the spooled file: %s", error->message);
    else
        bytes = g_mapped_file_get_bytes(mapped);
    if (mapped)
        g_mapped_file_unref(mapped);
    close(fd);
    return bytes;
}

void http_files_read(HttpRequest *r)
{
    const char *path;
    oc_sandbox *sb = open_for_path(r, &path);
    GBytes *bytes;

    if (!sb)
        return;
    bytes = read_spooled(r, sb, path);
    if (bytes)
        http_reply_bytes(r, 200, "application/octet-stream", bytes);
    oc_sandbox_unref(sb);
}

void http_files_write(HttpRequest *r)
{
    const char *path;
    oc_sandbox *sb = open_for_path(r, &path);
    oc_error *err = NULL;

    if (!sb)
        return;
    if (r->upload_fd < 0)
        http_reply_error(r, 500, "the upload was not spooled (a bug: please report it)");
    else
        http_reply_done(r, oc_files_write_from_fd(sb, path, r->upload_fd, 0, &err), err);
    oc_sandbox_unref(sb);
}

void http_files_delete(HttpRequest *r)
{
    const char *path;
    oc_sandbox *sb = open_for_path(r, &path);
    oc_error *err = NULL;

    if (!sb)
        return;
    http_reply_done(r, oc_files_remove(sb, path, OC_FILES_RECURSIVE, &err), err);
    oc_sandbox_unref(sb);
}

void http_files_list(HttpRequest *r)
{
    const char *path;
    oc_sandbox *sb = open_for_path(r, &path);
    oc_file_list *list = NULL;
    oc_error *err = NULL;
    JsonArray *a;
    gboolean slash;

    if (!sb)
        return;
    if (oc_files_list(&list, sb, path, 0, &err) < 0) {
        http_reply_oc_error(r, err);
        oc_sandbox_unref(sb);
        return;
    }
    slash = g_str_has_suffix(path, "/");
    a = json_array_new();
    for (size_t i = 0; i < oc_file_list_count(list); i++) {
        const oc_file_info *fi = oc_file_list_at(list, i);
        JsonObject *o = json_object_new();
        g_autofree char *full = g_strconcat(path, slash ? "" : "/", oc_file_info_name(fi), NULL);

        json_object_set_string_member(o, "name", oc_file_info_name(fi));
        json_object_set_boolean_member(o, "isDir", oc_file_info_type(fi) == OC_FILE_TYPE_DIR);
        json_object_set_string_member(o, "path", full);
        json_object_set_int_member(o, "size", (gint64)oc_file_info_size(fi));
        json_array_add_object_element(a, o);
    }
    oc_file_list_free(list);
    oc_sandbox_unref(sb);
    http_reply_array(r, a);
}

void http_files_mkdir(HttpRequest *r)
{
    const char *path;
    oc_sandbox *sb = open_for_path(r, &path);
    oc_error *err = NULL;

    if (!sb)
        return;
    http_reply_done(r, oc_files_mkdir(sb, path, 0, &err), err);
    oc_sandbox_unref(sb);
}
