/* routes-session.c: background exec sessions and terminals (their output
 * is followed over the WebSocket routes in ws-exec.c); agent sessions use
 * its helpers and kill route (routes-agent.c). */
#include "body.h"
#include "handlers.h"
#include "sandboxes.h"

#include <stdlib.h>

gboolean http_session_id(HttpRequest *r, uint32_t *out)
{
    char *end = NULL;
    guint64 v = g_ascii_strtoull(r->route.sub_id, &end, 10);

    if (!end || *end || v == 0 || v > G_MAXUINT32) {
        http_reply_error(r, 404, "no session %s in sandbox %s", r->route.sub_id,
                         r->route.sandbox_id);
        return FALSE;
    }
    *out = (uint32_t)v;
    return TRUE;
}

void http_reply_session(HttpRequest *r, uint32_t id)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *sid = g_strdup_printf("%u", id);

    json_object_set_string_member(o, "sessionID", sid);
    json_object_set_string_member(o, "sandboxID", r->route.sandbox_id);
    json_node_take_object(n, o);
    http_reply_json(r, 200, n);
}

void http_exec_start(HttpRequest *r)
{
    oc_exec_options opts = OC_EXEC_OPTIONS_INIT;
    g_autoptr(GError) error = NULL;
    HttpExecBody body;
    oc_sandbox *sb;
    oc_error *err = NULL;
    uint32_t id = 0;

    if (!http_body_exec(r->json, &body, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    sb = http_sandbox_open(r);
    if (sb) {
        opts.args = (const char *const *)body.args;
        opts.envs = (const char *const *)body.envs;
        opts.cwd = body.cwd;
        opts.timeout_ms = body.timeout_s >= 0 ? body.timeout_s * 1000 : 0;
        if (oc_exec_start(&id, sb, body.cmd, &opts, &err) < 0)
            http_reply_oc_error(r, err);
        else
            http_reply_session(r, id);
        oc_sandbox_unref(sb);
    }
    http_exec_body_clear(&body);
}

void http_reply_session_list(HttpRequest *r, gboolean agents)
{
    oc_sandbox *sb = http_sandbox_open(r);
    oc_exec_session_list *list = NULL;
    oc_error *err = NULL;
    JsonArray *a;

    if (!sb)
        return;
    if ((agents ? oc_agent_list(&list, sb, 0, &err) : oc_exec_list(&list, sb, 0, &err)) < 0) {
        http_reply_oc_error(r, err);
        oc_sandbox_unref(sb);
        return;
    }
    a = json_array_new();
    for (size_t i = 0; i < oc_exec_session_list_count(list); i++) {
        const oc_exec_session_info *si = oc_exec_session_list_at(list, i);
        JsonObject *o = json_object_new();
        g_autofree char *sid = g_strdup_printf("%u", oc_exec_session_info_id(si));
        g_autofree char *started = http_iso_time(oc_exec_session_info_started_at_ms(si) / 1000);

        json_object_set_string_member(o, "sessionID", sid);
        json_object_set_string_member(o, "sandboxID", r->route.sandbox_id);
        json_object_set_string_member(o, "command", oc_exec_session_info_command(si));
        json_object_set_array_member(o, "args", json_array_new());
        json_object_set_boolean_member(o, "running", oc_exec_session_info_running(si));
        if (!oc_exec_session_info_running(si))
            json_object_set_int_member(o, "exitCode", oc_exec_session_info_exit_code(si));
        json_object_set_string_member(o, "startedAt", started);
        json_object_set_int_member(o, "attachedClients", 0);
        json_array_add_object_element(a, o);
    }
    oc_exec_session_list_free(list);
    oc_sandbox_unref(sb);
    http_reply_array(r, a);
}

void http_exec_list(HttpRequest *r)
{
    http_reply_session_list(r, FALSE);
}

static void kill_session(HttpRequest *r, int signal)
{
    oc_sandbox *sb;
    oc_error *err = NULL;
    uint32_t id;

    if (!http_session_id(r, &id) || !(sb = http_sandbox_open(r)))
        return;
    http_reply_done(r, oc_exec_kill(sb, id, signal, &err), err);
    oc_sandbox_unref(sb);
}

void http_exec_kill(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    gint64 signal = 9;

    if (!http_body_int(r->json, "signal", 1, 64, &signal, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    kill_session(r, (int)signal);
}

static gboolean terminal_size(HttpRequest *r, uint32_t *cols, uint32_t *rows)
{
    g_autoptr(GError) error = NULL;
    gint64 c = 80, w = 24;

    if (!http_body_int(r->json, "cols", 1, 4096, &c, &error) ||
        !http_body_int(r->json, "rows", 1, 4096, &w, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return FALSE;
    }
    *cols = (uint32_t)c;
    *rows = (uint32_t)w;
    return TRUE;
}

/* The terminal is created detached: the WebSocket attaches later and gets
 * everything from its first byte (the scrollback starts at offset 0). */
void http_pty_create(HttpRequest *r)
{
    oc_pty_options opts = OC_PTY_OPTIONS_INIT;
    oc_exec_handle *h = NULL;
    oc_sandbox *sb;
    oc_error *err = NULL;

    if (!terminal_size(r, &opts.cols, &opts.rows) || !(sb = http_sandbox_open(r)))
        return;
    if (oc_pty_create(&h, sb, &opts, NULL, &err) < 0) {
        http_reply_oc_error(r, err);
    } else {
        http_reply_session(r, oc_exec_handle_session_id(h));
        oc_exec_handle_free(h);
    }
    oc_sandbox_unref(sb);
}

void http_pty_resize(HttpRequest *r)
{
    oc_exec_handle *h = NULL;
    oc_sandbox *sb;
    oc_error *err = NULL;
    uint32_t id, cols, rows;

    if (!terminal_size(r, &cols, &rows) || !http_session_id(r, &id) ||
        !(sb = http_sandbox_open(r)))
        return;
    http_reply_done(r, oc_exec_attach(&h, sb, id, NULL, &err) < 0 ? -1
                                                                  : oc_exec_resize(h, cols, rows, &err),
                    err);
    if (h)
        oc_exec_handle_free(h);
    oc_sandbox_unref(sb);
}

void http_pty_delete(HttpRequest *r)
{
    kill_session(r, 0);
}
