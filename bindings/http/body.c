/* body.c: parsing and checking request bodies. */
#include "body.h"
#include "route.h"

#include <string.h>

G_DEFINE_QUARK(oc-server-body-error, http_body_error)

static gboolean fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean fail(GError **error, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error && !*error)
        *error = g_error_new_valist(HTTP_BODY_ERROR, 0, fmt, ap);
    va_end(ap);
    return FALSE;
}

JsonObject *http_body_parse(const char *data, gsize len, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) local = NULL;
    JsonNode *root;

    if (len == 0)
        return json_object_new();
    if (!json_parser_load_from_data(parser, data, (gssize)len, &local)) {
        fail(error, "the request body is not valid JSON: %s", local->message);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        fail(error, "the request body must be a JSON object");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

static JsonNode *member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

gboolean http_body_int(JsonObject *o, const char *name, gint64 min, gint64 max, gint64 *out,
                       GError **error)
{
    JsonNode *n = member(o, name);
    gdouble d;

    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || (json_node_get_value_type(n) != G_TYPE_INT64 &&
                                      json_node_get_value_type(n) != G_TYPE_DOUBLE))
        return fail(error, "'%s' must be a number", name);
    if (json_node_get_value_type(n) == G_TYPE_INT64) {
        gint64 v = json_node_get_int(n);
        if (v >= min && v <= max) {
            *out = v;
            return TRUE;
        }
    } else {
        /* Converting a double no gint64 holds (inf, NaN, past 2^63) is
         * undefined, so only those within 2^53, where doubles are exact
         * integers or fractions, are converted at all. */
        d = json_node_get_double(n);
        if (d >= -0x1p53 && d <= 0x1p53 && d == (gdouble)(gint64)d && (gint64)d >= min &&
            (gint64)d <= max) {
            *out = (gint64)d;
            return TRUE;
        }
    }
    return fail(error, "'%s' must be a whole number from %" G_GINT64_FORMAT " to %"
                G_GINT64_FORMAT, name, min, max);
}

gboolean http_body_string(JsonObject *o, const char *name, char **out, GError **error)
{
    JsonNode *n = member(o, name);

    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return fail(error, "'%s' must be a string", name);
    *out = g_strdup(json_node_get_string(n));
    return TRUE;
}

gboolean http_body_string_map(JsonObject *o, const char *name, GStrv *out, GError **error)
{
    JsonNode *n = member(o, name);
    g_autoptr(GStrvBuilder) b = NULL;
    g_autoptr(GList) keys = NULL;
    JsonObject *map;

    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return fail(error, "'%s' must be an object of strings", name);
    map = json_node_get_object(n);
    b = g_strv_builder_new();
    keys = json_object_get_members(map);
    for (GList *k = keys; k; k = k->next) {
        JsonNode *v = json_object_get_member(map, k->data);

        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING)
            return fail(error, "'%s.%s' must be a string", name, (const char *)k->data);
        if (((const char *)k->data)[0] == '\0' || strchr(k->data, '='))
            return fail(error, "'%s' has a key that is empty or holds '='", name);
        g_autofree char *pair = g_strdup_printf("%s=%s", (const char *)k->data,
                                                json_node_get_string(v));

        g_strv_builder_add(b, pair);
    }
    *out = g_strv_builder_end(b);
    return TRUE;
}

static gboolean string_array(JsonObject *o, const char *name, GStrv *out, GError **error)
{
    JsonNode *n = member(o, name);
    g_autoptr(GStrvBuilder) b = NULL;
    JsonArray *a;

    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(n))
        return fail(error, "'%s' must be an array of strings", name);
    a = json_node_get_array(n);
    b = g_strv_builder_new();
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *v = json_array_get_element(a, i);

        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING)
            return fail(error, "'%s[%u]' must be a string", name, i);
        g_strv_builder_add(b, json_node_get_string(v));
    }
    *out = g_strv_builder_end(b);
    return TRUE;
}

gboolean http_body_network(JsonObject *o, HttpNetworkBody *out, GError **error)
{
    static const char *const keys[] = { "allowOut", "denyOut", "blockAll", NULL };
    g_autoptr(GList) names = json_object_get_members(o);
    JsonNode *block;

    memset(out, 0, sizeof *out);
    for (GList *l = names; l; l = l->next)
        if (!g_strv_contains(keys, l->data))
            return fail(error, "network has no member '%s'; its members are allowOut, denyOut "
                        "and blockAll", (const char *)l->data);
    out->given = TRUE;
    if (!string_array(o, "allowOut", &out->allow_out, error) ||
        !string_array(o, "denyOut", &out->deny_out, error))
        return FALSE;
    block = member(o, "blockAll");
    if (block && (!JSON_NODE_HOLDS_VALUE(block) ||
                  json_node_get_value_type(block) != G_TYPE_BOOLEAN))
        return fail(error, "'blockAll' must be true or false");
    out->block_all = block && json_node_get_boolean(block);
    return TRUE;
}

gboolean http_body_network_member(JsonObject *o, const char *name, HttpNetworkBody *out,
                                  GError **error)
{
    JsonNode *n = member(o, name);

    memset(out, 0, sizeof *out);
    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return fail(error, "'%s' must be an object {allowOut, denyOut, blockAll}", name);
    return http_body_network(json_node_get_object(n), out, error);
}

void http_network_body_clear(HttpNetworkBody *b)
{
    g_clear_pointer(&b->allow_out, g_strfreev);
    g_clear_pointer(&b->deny_out, g_strfreev);
    b->given = FALSE;
}

gboolean http_body_create(JsonObject *o, HttpCreateBody *out, GError **error)
{
    gint64 cpu = 0, mem = 0;

    memset(out, 0, sizeof *out);
    out->timeout_s = -1;
    if (!http_body_string(o, "templateID", &out->template_name, error) ||
        !http_body_int(o, "timeout", 0, G_MAXUINT32, &out->timeout_s, error) ||
        !http_body_int(o, "cpuCount", 1, G_MAXUINT32, &cpu, error) ||
        !http_body_int(o, "memoryMB", 1, G_MAXUINT32, &mem, error) ||
        !http_body_string_map(o, "envs", &out->envs, error) ||
        !http_body_string_map(o, "metadata", &out->metadata, error) ||
        !http_body_network_member(o, "network", &out->network, error))
        return FALSE;
    if (out->template_name && !http_valid_name(out->template_name))
        return fail(error, "template name '%s' is not valid: use 1 to 64 letters, digits, "
                    "'-', '_' or '.', not starting with '.'", out->template_name);
    if (!http_body_string(o, "snapshot", &out->snapshot, error))
        return FALSE;
    if (out->snapshot && !http_valid_name(out->snapshot))
        return fail(error, "snapshot name '%s' is not valid", out->snapshot);
    if (member(o, "image")) {
        if (!JSON_NODE_HOLDS_OBJECT(member(o, "image")))
            return fail(error, "'image' must be an object (the SDK's Image)");
        out->image = json_object_ref(json_node_get_object(member(o, "image")));
    }
    out->cpu_count = (guint)cpu;
    out->memory_mb = (guint)mem;
    return TRUE;
}

void http_create_body_clear(HttpCreateBody *b)
{
    g_clear_pointer(&b->template_name, g_free);
    g_clear_pointer(&b->envs, g_strfreev);
    g_clear_pointer(&b->metadata, g_strfreev);
    g_clear_pointer(&b->image, json_object_unref);
    g_clear_pointer(&b->snapshot, g_free);
    http_network_body_clear(&b->network);
}

gboolean http_body_exec(JsonObject *o, HttpExecBody *out, GError **error)
{
    memset(out, 0, sizeof *out);
    out->timeout_s = -1;
    if (!http_body_string(o, "cmd", &out->cmd, error) || !string_array(o, "args", &out->args, error) ||
        !http_body_string_map(o, "envs", &out->envs, error) ||
        !http_body_string(o, "cwd", &out->cwd, error) ||
        !http_body_int(o, "timeout", 0, G_MAXUINT32 / 1000, &out->timeout_s, error))
        return FALSE;
    if (!out->cmd || !out->cmd[0])
        return fail(error, "'cmd' is required: the program or shell command to run");
    return TRUE;
}

void http_exec_body_clear(HttpExecBody *b)
{
    g_clear_pointer(&b->cmd, g_free);
    g_clear_pointer(&b->args, g_strfreev);
    g_clear_pointer(&b->envs, g_strfreev);
    g_clear_pointer(&b->cwd, g_free);
}
