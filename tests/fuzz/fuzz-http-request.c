/* fuzz-http-request.c: oc-server's request parsing (bindings/http/route.c,
 * body.c), which runs on every request before anything acts on it: the
 * route of a method and path, the ids in it, and the JSON bodies of create
 * and exec.  The input is "METHOD PATH\n" then the body.  What matches must
 * carry only well-formed ids; what parses must hold what the handlers
 * assume (checked below); what is refused must say why. */
#include <string.h>

#include "body.h"
#include "fuzz.h"
#include "route.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void route(const char *line)
{
    g_autofree char *copy = g_strdup(line);
    char *path = strchr(copy, ' ');
    HttpRoute r;

    if (!path)
        return;
    *path++ = '\0';
    memset(&r, 0, sizeof r);
    int rc = http_route_match(&r, copy, path);
    g_assert(rc == 0 || rc == 404 || rc == 405);
    if (rc == 0) {
        g_assert(r.id > HTTP_ROUTE_NONE && r.id < HTTP_ROUTE_COUNT && r.pattern);
        g_assert(!r.sandbox_id || http_valid_name(r.sandbox_id));
        g_assert(!r.sub_id || http_valid_name(r.sub_id));
        g_assert(!r.sandbox_id || (!strstr(r.sandbox_id, "/") && strcmp(r.sandbox_id, "..")));
    }
    http_route_clear(&r);
}

static void bodies(const char *data, size_t len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) o = http_body_parse(data, len, &err);
    HttpCreateBody c;
    HttpExecBody e;

    if (!o) {
        g_assert(err && *err->message);
        return;
    }
    memset(&c, 0, sizeof c);
    if (http_body_create(o, &c, &err)) {
        g_assert(!c.template_name || http_valid_name(c.template_name));
        for (char **kv = c.envs; kv && *kv; kv++)
            g_assert(strchr(*kv, '='));
    } else {
        g_assert(err && *err->message);
        g_clear_error(&err);
    }
    http_create_body_clear(&c);
    memset(&e, 0, sizeof e);
    if (!http_body_exec(o, &e, &err))
        g_assert(err && *err->message);
    http_exec_body_clear(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t head = nl ? (size_t)(nl - (const char *)data) : size;
    g_autofree char *line = g_strndup((const char *)data, head);

    route(line);
    if (nl)
        bodies(nl + 1, size - head - 1);
    return 0;
}
