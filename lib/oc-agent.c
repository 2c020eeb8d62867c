/* oc-agent.c: public entry points of agent sessions.
 *
 * An agent session is an exec session (oc-exec-stream.c) running the agent
 * program, so starting, following, history, hibernation and kill are the
 * session's.  What this adds: the program's stdout split into JSON-line
 * events (util/jsonlines.c), the commands written to its stdin as JSON
 * lines, and a tag in the command line that oc_agent_list() finds.
 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "core/sandbox.h"
#include "oc-private.h"
#include "util/jsonlines.h"

struct oc_agent_session {
    oc_exec_handle *h;
    guint32 id;
    JsonLines *lines;       /* used on the handle's thread only */
    oc_agent_callbacks cb;  /* zeroed when none were given */
};

/* ---- events (on the handle's thread) ---- */

static void emit_event(const char *type, const char *json, gpointer user_data)
{
    oc_agent_session *s = user_data;

    if (s->cb.on_event)
        s->cb.on_event(type, json, s->cb.user_data);
}

static void on_stdout(const char *data, size_t len, void *user_data)
{
    oc_agent_session *s = user_data;
    json_lines_feed(s->lines, data, len);
}

static void on_stderr(const char *data, size_t len, void *user_data)
{
    oc_agent_session *s = user_data;

    if (s->cb.on_stderr)
        s->cb.on_stderr(data, len, s->cb.user_data);
}

static void on_gap(int stream, uint64_t bytes, void *user_data)
{
    oc_agent_session *s = user_data;

    /* A gap in stderr loses log text only: no event is cut. */
    if (stream == 1)
        json_lines_gap(s->lines, bytes);
}

static void on_replay_end(void *user_data)
{
    oc_agent_session *s = user_data;

    if (s->cb.on_replay_end)
        s->cb.on_replay_end(s->cb.user_data);
}

static void on_end(int status, int exit_code, void *user_data)
{
    oc_agent_session *s = user_data;

    json_lines_finish(s->lines);
    if (s->cb.on_end)
        s->cb.on_end(status, exit_code, s->cb.user_data);
}

static oc_exec_callbacks exec_callbacks_for(oc_agent_session *s)
{
    return (oc_exec_callbacks){
        .version = OC_EXEC_CALLBACKS_VERSION,
        .on_stdout = on_stdout,
        .on_stderr = on_stderr,
        .on_replay_end = on_replay_end,
        .on_end = on_end,
        .user_data = s,
        .on_gap = on_gap,
    };
}

/* A handle without its exec handle yet; NULL with error for bad callbacks. */
static oc_agent_session *session_new(const oc_agent_callbacks *cb, const char *func,
                                     GError **error)
{
    if (cb && (cb->version < 1 || cb->version > OC_AGENT_CALLBACKS_VERSION)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s: oc_agent_callbacks version %u is not "
                    "supported; set it to OC_AGENT_CALLBACKS_VERSION", func, cb->version);
        return NULL;
    }
    oc_agent_session *s = g_new0(oc_agent_session, 1);
    if (cb)
        s->cb = *cb;
    s->lines = json_lines_new(OC_AGENT_MAX_LINE, emit_event, s);
    return s;
}

static void session_free(oc_agent_session *s)
{
    oc_exec_handle_free(s->h); /* no callback comes after this */
    json_lines_free(s->lines);
    g_free(s);
}

/* ---- commands ---- */

/* Parses text as a JSON object; NULL with error (naming func) if it is not. */
static JsonObject *parse_object(const char *text, const char *func, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    GError *err = NULL;

    if (!json_parser_load_from_data(p, text, -1, &err)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s: the configuration is not JSON (%s); pass "
                    "a JSON object such as {\"model\":\"m\"}", func, err->message);
        g_error_free(err);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s: the configuration is JSON but not an "
                    "object; pass a JSON object such as {\"model\":\"m\"}", func);
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

/* Writes obj as one line to the program's stdin. */
static int send_object(oc_agent_session *s, JsonObject *obj, oc_error **error)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), obj);
    g_autofree char *text = json_to_string(node, FALSE);
    g_autofree char *line = g_strconcat(text, "\n", NULL);

    return oc_exec_send_stdin(s->h, line, strlen(line), error);
}

/* {"type": type}, to which members are added. */
static JsonObject *command_new(const char *type)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "type", type);
    return o;
}

OC_API int oc_agent_send_prompt(oc_agent_session *s, const char *text, oc_error **error)
{
    CHECK_ARG(s && text, "oc_agent_send_prompt: s and text must not be NULL");
    CHECK_ARG(g_utf8_validate(text, -1, NULL),
              "oc_agent_send_prompt: the prompt is not valid UTF-8; JSON carries text only");
    g_autoptr(JsonObject) o = command_new("prompt");
    json_object_set_string_member(o, "text", text);
    return send_object(s, o, error);
}

OC_API int oc_agent_interrupt(oc_agent_session *s, oc_error **error)
{
    CHECK_ARG(s, "oc_agent_interrupt: s must not be NULL");
    g_autoptr(JsonObject) o = command_new("interrupt");
    return send_object(s, o, error);
}

/* Adds the members of config (a JSON object's text; NULL: none) to o,
 * replacing those of the same name. */
static gboolean add_config(JsonObject *o, const char *config, const char *func, GError **error)
{
    if (!config)
        return TRUE;
    g_autoptr(JsonObject) c = parse_object(config, func, error);
    if (!c)
        return FALSE;
    JsonObjectIter it;
    const char *name;
    JsonNode *value;
    json_object_iter_init(&it, c);
    while (json_object_iter_next(&it, &name, &value))
        if (strcmp(name, "type") != 0)
            json_object_set_member(o, name, json_node_copy(value));
    return TRUE;
}

OC_API int oc_agent_configure(oc_agent_session *s, const char *config_json, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(s && config_json, "oc_agent_configure: s and config_json must not be NULL");
    g_autoptr(JsonObject) o = command_new("configure");
    if (!add_config(o, config_json, "oc_agent_configure", &err))
        return oc_error_propagate(error, err);
    return send_object(s, o, error);
}

/* The first configure command of a start, or NULL when no setting is set. */
static JsonObject *start_config(const oc_agent_options *opts, GError **error)
{
    if (!opts->model && !opts->system_prompt && !opts->max_turns && !opts->cwd &&
        !opts->config_json)
        return NULL;
    JsonObject *o = command_new("configure");
    if (opts->model)
        json_object_set_string_member(o, "model", opts->model);
    if (opts->system_prompt)
        json_object_set_string_member(o, "systemPrompt", opts->system_prompt);
    if (opts->max_turns)
        json_object_set_int_member(o, "maxTurns", opts->max_turns);
    if (opts->cwd)
        json_object_set_string_member(o, "cwd", opts->cwd);
    if (!add_config(o, opts->config_json, "oc_agent_start", error)) {
        json_object_unref(o);
        return NULL;
    }
    return o;
}

/* ---- starting and following ---- */

OC_API int oc_agent_options_init(oc_agent_options *opts, uint32_t version)
{
    if (!opts || version != OC_AGENT_OPTIONS_VERSION)
        return OC_EINVAL;
    *opts = (oc_agent_options)OC_AGENT_OPTIONS_INIT;
    return OC_OK;
}

/* `env OC_AGENT_SESSION=1 PROGRAM ARGS...`: the tag oc_agent_list() looks
 * for, in the command line every session listing shows.  Without a program
 * the sandbox's template names it (and its arguments, unless opts has
 * some), as the sandbox's record keeps it from its creation: the version
 * of the template whose disk it runs on. */
static GPtrArray *start_argv(oc_sandbox *sb, const oc_agent_options *opts)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) tmpl = NULL;
    const char *const *args = opts->args;

    if (!opts->program) {
        g_mutex_lock(&sb->lock);
        tmpl = g_strdupv(sb->record->agent);
        g_mutex_unlock(&sb->lock);
    }

    g_ptr_array_add(argv, g_strdup("OC_AGENT_SESSION=1"));
    if (opts->program)
        g_ptr_array_add(argv, g_strdup(opts->program));
    else
        g_ptr_array_add(argv, g_strdup(tmpl ? tmpl[0] : OC_AGENT_DEFAULT_PROGRAM));
    if (!args && tmpl)
        args = (const char *const *)tmpl + 1;
    for (const char *const *a = args; a && *a; a++)
        g_ptr_array_add(argv, g_strdup(*a));
    g_ptr_array_add(argv, NULL);
    return argv;
}

/* The first commands, in order; on failure the session is killed, since
 * nobody would know to drive it. */
static int send_first(oc_agent_session *s, oc_sandbox *sb, JsonObject *config,
                      const char *prompt, oc_error **error)
{
    int rc = config ? send_object(s, config, error) : OC_OK;

    if (rc == OC_OK && prompt)
        rc = oc_agent_send_prompt(s, prompt, error);
    if (rc != OC_OK)
        oc_exec_kill(sb, s->id, 0, NULL);
    return rc;
}

OC_API int oc_agent_start(oc_agent_session **out, oc_sandbox *sb, const oc_agent_options *opts,
                          const oc_agent_callbacks *callbacks, oc_error **error)
{
    static const oc_agent_options defaults = OC_AGENT_OPTIONS_INIT;
    GError *err = NULL;

    CHECK_ARG(out && sb, "oc_agent_start: out and sb must not be NULL");
    if (!opts)
        opts = &defaults;
    CHECK_ARG(opts->version >= 1 && opts->version <= OC_AGENT_OPTIONS_VERSION,
              "oc_agent_options version %u is not supported; use OC_AGENT_OPTIONS_INIT",
              opts->version);
    CHECK_ARG(!opts->program || opts->program[0] == '/',
              "oc_agent_start: program \"%s\" is not an absolute path; name the agent "
              "program by its path in the sandbox, or pass NULL for %s", opts->program,
              OC_AGENT_DEFAULT_PROGRAM);
    CHECK_ARG(!opts->prompt || g_utf8_validate(opts->prompt, -1, NULL),
              "oc_agent_start: the prompt is not valid UTF-8; JSON carries text only");
    g_autoptr(JsonObject) config = start_config(opts, &err);
    if (err)
        return oc_error_propagate(error, err);
    oc_agent_session *s = session_new(callbacks, "oc_agent_start", &err);
    if (!s)
        return oc_error_propagate(error, err);

    g_autoptr(GPtrArray) argv = start_argv(sb, opts);
    oc_exec_options eo = OC_EXEC_OPTIONS_INIT;
    eo.args = (const char *const *)argv->pdata;
    eo.envs = opts->envs;
    eo.cwd = opts->cwd;
    eo.timeout_ms = 0;
    const oc_exec_callbacks cb = exec_callbacks_for(s);
    int rc = oc_exec_spawn(&s->h, sb, "/usr/bin/env", &eo, &cb, error);
    if (rc == OC_OK) {
        s->id = oc_exec_handle_session_id(s->h);
        rc = send_first(s, sb, config, opts->prompt, error);
    }
    if (rc != OC_OK) {
        session_free(s);
        return rc;
    }
    *out = s;
    return OC_OK;
}

OC_API int oc_agent_attach(oc_agent_session **out, oc_sandbox *sb, uint32_t session_id,
                           const oc_agent_callbacks *callbacks, oc_error **error)
{
    GError *err = NULL;

    CHECK_ARG(out && sb, "oc_agent_attach: out and sb must not be NULL");
    oc_agent_session *s = session_new(callbacks, "oc_agent_attach", &err);
    if (!s)
        return oc_error_propagate(error, err);
    s->id = session_id;
    const oc_exec_callbacks cb = exec_callbacks_for(s);
    int rc = oc_exec_attach(&s->h, sb, session_id, &cb, error);
    if (rc != OC_OK) {
        session_free(s);
        return rc;
    }
    *out = s;
    return OC_OK;
}

OC_API uint32_t oc_agent_session_id(const oc_agent_session *s)
{
    return s ? s->id : 0;
}

OC_API int oc_agent_wait(oc_agent_session *s, int64_t timeout_ms, int *exit_code,
                         oc_error **error)
{
    CHECK_ARG(s, "oc_agent_wait: s must not be NULL");
    return oc_exec_wait(s->h, timeout_ms, exit_code, error);
}

OC_API void oc_agent_detach(oc_agent_session *s)
{
    if (s)
        oc_exec_detach(s->h);
}

OC_API void oc_agent_close(oc_agent_session *s)
{
    if (s)
        session_free(s);
}

OC_API int oc_agent_kill(oc_sandbox *sb, uint32_t session_id, int signal, oc_error **error)
{
    return oc_exec_kill(sb, session_id, signal, error);
}

static gboolean is_agent(const oc_exec_session_info *si)
{
    return g_str_has_prefix(oc_exec_session_info_command(si), OC_AGENT_COMMAND_PREFIX);
}

OC_API int oc_agent_list(oc_exec_session_list **out, oc_sandbox *sb, uint32_t flags,
                         oc_error **error)
{
    CHECK_ARG(out, "oc_agent_list: out must not be NULL");
    int rc = oc_exec_list(out, sb, flags, error);
    if (rc == OC_OK)
        exec_session_list_keep(*out, is_agent);
    return rc;
}
