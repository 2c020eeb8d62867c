/* routes-agent.c: agent sessions, as the SDK's SandboxAgent calls them.
 * Start and list are here; the SDK follows a session over the exec
 * WebSocket (ws-exec.c), where it parses the JSON lines itself and writes
 * its commands to stdin, and kills it through .../agent/:sid/kill (the exec
 * kill handler).  The prompt and interrupt routes serve clients without a
 * WebSocket. */
#include "body.h"
#include "handlers.h"
#include "sandboxes.h"

/* Body members that are options of the start, not settings of the agent. */
static gboolean is_start_option(const char *name)
{
    return g_str_equal(name, "prompt") || g_str_equal(name, "program");
}

/* The settings of a start body ({prompt, model, systemPrompt, maxTurns,
 * cwd, allowedTools, ...}): every member but the start's own, as a JSON
 * object's text, or NULL when there is none. */
static char *settings_json(JsonObject *body)
{
    g_autoptr(JsonObject) o = json_object_new();
    JsonObjectIter it;
    const char *name;
    JsonNode *value;

    json_object_iter_init(&it, body);
    while (json_object_iter_next(&it, &name, &value))
        if (!is_start_option(name))
            json_object_set_member(o, name, json_node_copy(value));
    if (json_object_get_size(o) == 0)
        return NULL;
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
    return json_to_string(node, FALSE);
}

/* The agent starts detached: the WebSocket attaches later and gets its
 * events from the first (the history starts at offset 0). */
void http_agent_start(HttpRequest *r)
{
    oc_agent_options opts = OC_AGENT_OPTIONS_INIT;
    g_autoptr(GError) error = NULL;
    g_autofree char *prompt = NULL, *cwd = NULL, *program = NULL, *settings = NULL;
    oc_agent_session *s = NULL;
    oc_error *err = NULL;
    oc_sandbox *sb;

    if (!http_body_string(r->json, "prompt", &prompt, &error) ||
        !http_body_string(r->json, "cwd", &cwd, &error) ||
        !http_body_string(r->json, "program", &program, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    if (!(sb = http_sandbox_open(r)))
        return;
    settings = settings_json(r->json);
    opts.prompt = prompt;
    opts.cwd = cwd;
    opts.program = program;
    opts.config_json = settings;
    if (oc_agent_start(&s, sb, &opts, NULL, &err) < 0) {
        http_reply_oc_error(r, err);
    } else {
        http_reply_session(r, oc_agent_session_id(s));
        oc_agent_close(s);
    }
    oc_sandbox_unref(sb);
}

/* The exec list's fields, a superset of the SDK's agent.list(). */
void http_agent_list(HttpRequest *r)
{
    http_reply_session_list(r, TRUE);
}

/* Attaches for one command and detaches. */
static void agent_command(HttpRequest *r, const char *text)
{
    oc_agent_session *s = NULL;
    oc_error *err = NULL;
    oc_sandbox *sb;
    uint32_t id;
    int rc;

    if (!http_session_id(r, &id) || !(sb = http_sandbox_open(r)))
        return;
    rc = oc_agent_attach(&s, sb, id, NULL, &err);
    if (rc == OC_OK) {
        rc = text ? oc_agent_send_prompt(s, text, &err) : oc_agent_interrupt(s, &err);
        oc_agent_close(s);
    }
    http_reply_done(r, rc, err);
    oc_sandbox_unref(sb);
}

void http_agent_prompt(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    if (!http_body_string(r->json, "text", &text, &error) || !text) {
        http_reply_error(r, 400, "%s", error ? error->message
                                             : "the body needs \"text\": the prompt to send");
        return;
    }
    agent_command(r, text);
}

void http_agent_interrupt(HttpRequest *r)
{
    agent_command(r, NULL);
}
