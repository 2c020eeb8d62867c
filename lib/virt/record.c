/* record.c: (de)serialisation of the sandbox record kept in domain metadata. */
#include "virt/record.h"

#include <string.h>

#include "util/error.h"

VirtRecord *virt_record_new(void)
{
    VirtRecord *rec = g_new0(VirtRecord, 1);
    rec->envs = g_ptr_array_new_with_free_func(g_free);
    rec->metadata = g_ptr_array_new_with_free_func(g_free);
    return rec;
}

void virt_record_free(VirtRecord *rec)
{
    if (!rec)
        return;
    g_free(rec->id);
    g_free(rec->template_name);
    g_free(rec->origin);
    g_free(rec->checkpoint);
    g_free(rec->workdir);
    g_free(rec->user);
    g_strfreev(rec->agent);
    g_ptr_array_unref(rec->envs);
    g_ptr_array_unref(rec->metadata);
    net_policy_free(rec->network);
    g_free(rec);
}

static void copy_kv(GPtrArray *dst, GPtrArray *src)
{
    for (guint i = 0; i < src->len; i++)
        g_ptr_array_add(dst, g_strdup(src->pdata[i]));
}

VirtRecord *virt_record_copy(const VirtRecord *rec)
{
    VirtRecord *c = virt_record_new();

    c->id = g_strdup(rec->id);
    c->template_name = g_strdup(rec->template_name);
    c->created = rec->created;
    c->timeout_s = rec->timeout_s;
    c->cpu_count = rec->cpu_count;
    c->memory_mb = rec->memory_mb;
    copy_kv(c->envs, rec->envs);
    copy_kv(c->metadata, rec->metadata);
    c->creating = rec->creating;
    c->last_wake = rec->last_wake;
    c->origin = g_strdup(rec->origin);
    c->checkpoint = g_strdup(rec->checkpoint);
    c->pool = rec->pool;
    c->network = rec->network ? net_policy_copy(rec->network) : NULL;
    c->workdir = g_strdup(rec->workdir);
    c->user = g_strdup(rec->user);
    c->agent = g_strdupv(rec->agent);
    return c;
}

const char *virt_kv_lookup(GPtrArray *kv, const char *key)
{
    size_t klen = strlen(key);
    for (guint i = 0; i < kv->len; i++) {
        const char *s = kv->pdata[i];
        if (strncmp(s, key, klen) == 0 && s[klen] == '=')
            return s + klen + 1;
    }
    return NULL;
}

static void append_kv(GString *s, const char *elem, GPtrArray *kv)
{
    for (guint i = 0; i < kv->len; i++) {
        const char *item = kv->pdata[i];
        const char *eq = strchr(item, '=');
        g_autofree char *key = g_strndup(item, eq - item);
        g_autofree char *k = g_markup_escape_text(key, -1);
        g_autofree char *v = g_markup_escape_text(eq + 1, -1);
        g_string_append_printf(s, "  <%s name=\"%s\">%s</%s>\n",
                               elem, k, v, elem);
    }
}

static void append_text(GString *s, const char *elem, const char *text)
{
    g_autofree char *t = text ? g_markup_escape_text(text, -1) : NULL;

    if (t)
        g_string_append_printf(s, "  <%s>%s</%s>\n", elem, t, elem);
}

/* <network blockAll="1"><allow>ENTRY</allow>...<deny>ENTRY</deny></network> */
static void append_network(GString *s, const NetPolicy *p)
{
    if (!p)
        return;
    g_string_append_printf(s, "  <network%s>\n", p->block_all ? " blockAll=\"1\"" : "");
    for (char **e = p->allow_out; e && *e; e++) {
        g_autofree char *t = g_markup_escape_text(*e, -1);
        g_string_append_printf(s, "    <allow>%s</allow>\n", t);
    }
    for (char **e = p->deny_out; e && *e; e++) {
        g_autofree char *t = g_markup_escape_text(*e, -1);
        g_string_append_printf(s, "    <deny>%s</deny>\n", t);
    }
    g_string_append(s, "  </network>\n");
}

char *virt_record_to_xml(const VirtRecord *rec)
{
    GString *s = g_string_new("<sandbox>\n");
    g_autofree char *tmpl = g_markup_escape_text(rec->template_name, -1);

    g_string_append_printf(s, "  <template>%s</template>\n", tmpl);
    g_string_append_printf(s, "  <created>%" G_GINT64_FORMAT "</created>\n",
                           rec->created);
    g_string_append_printf(s, "  <timeout>%u</timeout>\n", rec->timeout_s);
    g_string_append_printf(s, "  <cpus>%u</cpus>\n", rec->cpu_count);
    g_string_append_printf(s, "  <memory>%u</memory>\n", rec->memory_mb);
    if (rec->creating)
        g_string_append(s, "  <creating/>\n");
    if (rec->pool)
        g_string_append(s, "  <pool/>\n");
    append_text(s, "origin", rec->origin);
    append_text(s, "checkpoint", rec->checkpoint);
    append_text(s, "workdir", rec->workdir);
    append_text(s, "user", rec->user);
    for (char **a = rec->agent; a && *a; a++)
        append_text(s, "agent", *a);
    if (rec->last_wake)
        g_string_append_printf(s, "  <wake>%d</wake>\n", rec->last_wake);
    append_kv(s, "env", rec->envs);
    append_kv(s, "meta", rec->metadata);
    append_network(s, rec->network);
    g_string_append(s, "</sandbox>\n");
    return g_string_free(s, FALSE);
}

/* GMarkup parse state: libvirt hands back the element with whatever prefix
 * it stored, so elements are matched by local name. */
typedef struct {
    VirtRecord *rec;
    char *elem;      /* local name of the element whose text we collect */
    char *name_attr; /* its name="" attribute, for env/meta */
    GString *text;
} ParseState;

static const char *local_name(const char *qname)
{
    const char *colon = strchr(qname, ':');
    return colon ? colon + 1 : qname;
}

static void on_start(GMarkupParseContext *pc, const char *element, const char **names,
                     const char **values, gpointer data, GError **error)
{
    ParseState *st = data;
    const char *ln = local_name(element);

    if (g_str_equal(ln, "creating") || g_str_equal(ln, "pool")) {
        *(g_str_equal(ln, "pool") ? &st->rec->pool : &st->rec->creating) = TRUE;
        return;
    }
    if (g_str_equal(ln, "network")) {
        net_policy_free(st->rec->network);
        st->rec->network = net_policy_new();
        for (int i = 0; names[i]; i++)
            if (g_str_equal(names[i], "blockAll"))
                st->rec->network->block_all = g_str_equal(values[i], "1");
        return;
    }
    g_clear_pointer(&st->elem, g_free);
    g_clear_pointer(&st->name_attr, g_free);
    st->elem = g_strdup(ln);
    for (int i = 0; names[i]; i++)
        if (g_str_equal(names[i], "name"))
            st->name_attr = g_strdup(values[i]);
    g_string_truncate(st->text, 0);
}

static void on_text(GMarkupParseContext *pc, const char *text, gsize len, gpointer data, GError **error)
{
    ParseState *st = data;
    g_string_append_len(st->text, text, len);
}

static guint32 parse_u32(const char *s)
{
    guint64 v = 0;
    if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT32, &v, NULL))
        return 0;
    return (guint32)v;
}

static void strv_append(char ***strv, const char *s)
{
    guint n = *strv ? g_strv_length(*strv) : 0;

    *strv = g_renew(char *, *strv, n + 2);
    (*strv)[n] = g_strdup(s);
    (*strv)[n + 1] = NULL;
}

/* The record's optional text fields, by element name. */
static char **text_field(VirtRecord *rec, const char *ln)
{
    return g_str_equal(ln, "origin") ? &rec->origin
           : g_str_equal(ln, "checkpoint") ? &rec->checkpoint
           : g_str_equal(ln, "workdir") ? &rec->workdir
           : g_str_equal(ln, "user") ? &rec->user
           : NULL;
}

static void on_end(GMarkupParseContext *pc, const char *element, gpointer data, GError **error)
{
    ParseState *st = data;
    const char *ln = local_name(element);
    VirtRecord *rec = st->rec;
    const char *t = st->text->str;
    char **field;

    if (!st->elem || !g_str_equal(ln, st->elem))
        return;
    if (g_str_equal(ln, "template")) {
        g_free(rec->template_name);
        rec->template_name = g_strdup(t);
    } else if (g_str_equal(ln, "created")) {
        rec->created = g_ascii_strtoll(t, NULL, 10);
    } else if (g_str_equal(ln, "timeout")) {
        rec->timeout_s = parse_u32(t);
    } else if (g_str_equal(ln, "cpus")) {
        rec->cpu_count = parse_u32(t);
    } else if (g_str_equal(ln, "memory")) {
        rec->memory_mb = parse_u32(t);
    } else if ((field = text_field(rec, ln))) {
        g_free(*field);
        *field = g_strdup(t);
    } else if (g_str_equal(ln, "wake")) {
        rec->last_wake = (int)parse_u32(t);
    } else if ((g_str_equal(ln, "env") || g_str_equal(ln, "meta")) && st->name_attr) {
        GPtrArray *kv = g_str_equal(ln, "env") ? rec->envs : rec->metadata;
        g_ptr_array_add(kv, g_strdup_printf("%s=%s", st->name_attr, t));
    } else if (g_str_equal(ln, "agent")) {
        strv_append(&rec->agent, t); /* in order: the program, then its arguments */
    } else if ((g_str_equal(ln, "allow") || g_str_equal(ln, "deny")) && rec->network) {
        strv_append(g_str_equal(ln, "allow") ? &rec->network->allow_out
                                             : &rec->network->deny_out, t);
    }
    g_clear_pointer(&st->elem, g_free);
}

VirtRecord *virt_record_from_xml(const char *xml, GError **error)
{
    static const GMarkupParser parser = { on_start, on_end, on_text, NULL, NULL };
    ParseState st = { .rec = virt_record_new(), .text = g_string_new(NULL) };
    GMarkupParseContext *pc = g_markup_parse_context_new(&parser, 0, &st, NULL);
    gboolean ok = g_markup_parse_context_parse(pc, xml, -1, error) &&
                  g_markup_parse_context_end_parse(pc, error);

    g_markup_parse_context_free(pc);
    g_free(st.elem);
    g_free(st.name_attr);
    g_string_free(st.text, TRUE);
    if (!ok) {
        virt_record_free(st.rec);
        return NULL;
    }
    if (!st.rec->template_name)
        st.rec->template_name = g_strdup("base");
    return st.rec;
}
