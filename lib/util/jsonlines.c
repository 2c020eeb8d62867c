/* jsonlines.c: JSON-line events from a byte stream (jsonlines.h). */
#include <string.h>

#include <json-glib/json-glib.h>

#include "jsonlines.h"

struct JsonLines {
    gsize max_line;
    JsonLinesEmit emit;
    gpointer user_data;
    GByteArray *line;   /* the line so far */
    gboolean skipping;  /* dropping up to the next newline */
    JsonParser *parser;
};

JsonLines *json_lines_new(gsize max_line, JsonLinesEmit emit, gpointer user_data)
{
    JsonLines *jl = g_new0(JsonLines, 1);

    jl->max_line = max_line;
    jl->emit = emit;
    jl->user_data = user_data;
    jl->line = g_byte_array_new();
    jl->parser = json_parser_new_immutable();
    return jl;
}

void json_lines_free(JsonLines *jl)
{
    if (!jl)
        return;
    g_byte_array_unref(jl->line);
    g_object_unref(jl->parser);
    g_free(jl);
}

/* Emits {"type":"error","source":"host","message":...}, with "raw" (the
 * text made valid UTF-8) unless raw is NULL, and a count named count_name
 * unless that is NULL. */
static void emit_error(JsonLines *jl, const char *message, const char *raw, gsize raw_len,
                       const char *count_name, gint64 count)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "error");
    json_builder_set_member_name(b, "source");
    json_builder_add_string_value(b, "host");
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    if (raw) {
        g_autofree char *valid = g_utf8_make_valid(raw, raw_len);
        json_builder_set_member_name(b, "raw");
        json_builder_add_string_value(b, valid);
    }
    if (count_name) {
        json_builder_set_member_name(b, count_name);
        json_builder_add_int_value(b, count);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, FALSE);
    jl->emit("error", text, jl->user_data);
}

/* One whole line (without its newline). */
static void take_line(JsonLines *jl, const char *p, gsize len)
{
    GError *err = NULL;

    while (len > 0 && g_ascii_isspace(p[len - 1]))
        len--;
    while (len > 0 && g_ascii_isspace(*p))
        p++, len--;
    if (len == 0)
        return;
    if (!json_parser_load_from_data(jl->parser, p, (gssize)len, &err)) {
        g_autofree char *msg = g_strdup_printf("the agent program printed a line that is not "
                                               "JSON (%s); it is passed on as raw text",
                                               err->message);
        g_error_free(err);
        emit_error(jl, msg, p, len, NULL, 0);
        return;
    }
    JsonNode *root = json_parser_get_root(jl->parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        emit_error(jl, "the agent program printed a JSON line that is not an object; it is "
                       "passed on as raw text", p, len, NULL, 0);
        return;
    }
    JsonNode *t = json_object_get_member(json_node_get_object(root), "type");
    const char *type = t && JSON_NODE_HOLDS_VALUE(t) &&
                       json_node_get_value_type(t) == G_TYPE_STRING ? json_node_get_string(t) : "";
    /* The line as the program printed it: NUL-terminated for the callback. */
    g_autofree char *line = g_strndup(p, len);
    jl->emit(type, line, jl->user_data);
}

static void too_long(JsonLines *jl)
{
    g_autofree char *msg = g_strdup_printf("the agent program printed a line longer than %"
                                           G_GSIZE_FORMAT " bytes; it was dropped (raw holds "
                                           "its start)", jl->max_line);
    emit_error(jl, msg, (const char *)jl->line->data, MIN(jl->line->len, JSON_LINES_EXCERPT),
               NULL, 0);
    g_byte_array_set_size(jl->line, 0);
    jl->skipping = TRUE;
}

void json_lines_feed(JsonLines *jl, const char *data, gsize len)
{
    const char *end = data + len;

    while (data < end) {
        const char *nl = memchr(data, '\n', end - data);
        const char *stop = nl ? nl : end;
        if (!jl->skipping) {
            gsize room = jl->max_line - jl->line->len;
            gsize n = MIN((gsize)(stop - data), room + 1);
            g_byte_array_append(jl->line, (const guint8 *)data, n);
            if (jl->line->len > jl->max_line)
                too_long(jl);
            else if (nl) {
                take_line(jl, (const char *)jl->line->data, jl->line->len);
                g_byte_array_set_size(jl->line, 0);
            }
        }
        if (nl)
            jl->skipping = FALSE;
        data = nl ? nl + 1 : end;
    }
}

void json_lines_gap(JsonLines *jl, guint64 bytes)
{
    g_autofree char *msg = g_strdup_printf("%" G_GUINT64_FORMAT " bytes of the agent program's "
                                           "output were lost here (the session's ring no "
                                           "longer held them, or the reader fell behind); the "
                                           "line they cut is dropped", bytes);
    emit_error(jl, msg, NULL, 0, "lost_bytes", (gint64)MIN(bytes, (guint64)G_MAXINT64));
    g_byte_array_set_size(jl->line, 0);
    jl->skipping = TRUE;
}

void json_lines_finish(JsonLines *jl)
{
    if (!jl->skipping && jl->line->len > 0)
        take_line(jl, (const char *)jl->line->data, jl->line->len);
    g_byte_array_set_size(jl->line, 0);
    jl->skipping = FALSE;
}
