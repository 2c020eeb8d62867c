/* dockerfile.c: the Dockerfile subset a custom template is built from:
 * FROM (one template of this host), RUN, COPY, ENV, WORKDIR, USER and ARG,
 * and LABEL for the one label that means something here, the template's
 * agent program (OC_DOCKERFILE_AGENT_LABEL), with comments, line continuations, shell and exec (JSON) forms, and
 * $VAR / ${VAR} / ${VAR:-word} / ${VAR:+word} expanded where Docker expands
 * them (not in RUN: the shell does that, with the ARGs in its environment).
 * Anything else is refused with its line, not ignored: a silently dropped
 * instruction would build something other than what the file says. */
#include "image/buildspec.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "image/store.h"
#include "util/error.h"

typedef struct {
    BuildSpec *spec;
    GHashTable *vars;      /* ARG and ENV values seen so far, for expansion */
    GHashTable *args;      /* ARG values (what RUN gets in its environment) */
    const char *const *build_args;
    char *workdir;
    guint line;
    gboolean have_from;
} Parser;

static gboolean fail(Parser *p, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean fail(Parser *p, GError **error, const char *fmt, ...)
{
    g_autofree char *why = NULL;
    va_list ap;
    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, OC_ERROR, OC_EINVAL, "Dockerfile line %u: %s", p->line, why);
    return FALSE;
}

/* ---- words: quotes, backslashes and variables ---- */

/* Expands the variable at *s (just after '$'), appending its value. */
static gboolean expand_var(Parser *p, const char **s, GString *out, GError **error)
{
    const char *c = *s;
    g_autofree char *name = NULL;
    const char *word = NULL, *end;
    char op = 0;

    if (*c == '{') {
        end = strchr(c, '}');
        if (!end)
            return fail(p, error, "'${' without its '}'");
        const char *colon = memchr(c + 1, ':', (gsize)(end - c - 1));
        name = g_strndup(c + 1, (gsize)((colon ? colon : end) - c - 1));
        if (colon) {
            op = colon[1];
            if (op != '-' && op != '+')
                return fail(p, error, "only ${VAR:-word} and ${VAR:+word} are supported");
            word = colon + 2;
        }
        *s = end + 1;
    } else {
        end = c;
        while (g_ascii_isalnum(*end) || *end == '_')
            end++;
        if (end == c) {
            g_string_append_c(out, '$');
            return TRUE;
        }
        name = g_strndup(c, (gsize)(end - c));
        *s = end;
    }
    const char *value = g_hash_table_lookup(p->vars, name);
    gboolean set = value && *value;
    if ((op == '-' && !set) || (op == '+' && set))
        g_string_append_len(out, word, (gssize)(strchr(word, '}') - word));
    else if (op != '+' && value)
        g_string_append(out, value);
    return TRUE;
}

/* Splits s into words as Docker does for its shell-form arguments: blanks
 * separate, quotes group ('...' literally), a backslash escapes, and $VAR
 * expands outside single quotes. */
static gboolean lex_words(Parser *p, const char *s, GPtrArray *out, GError **error)
{
    GString *w = NULL;
    char quote = 0;

    for (;;) {
        char c = *s;
        if (!c || (!quote && g_ascii_isspace(c))) {
            if (w)
                g_ptr_array_add(out, g_string_free(g_steal_pointer(&w), FALSE));
            if (!c)
                break;
            s++;
            continue;
        }
        if (!w)
            w = g_string_new(NULL);
        s++;
        gboolean ok = TRUE;
        if (quote == '\'') {
            if (c == '\'')
                quote = 0;
            else
                g_string_append_c(w, c);
        } else if (c == '\\' && *s && (!quote || strchr("\"\\$", *s))) {
            g_string_append_c(w, *s++);
        } else if (c == '$') {
            ok = expand_var(p, &s, w, error);
        } else if (c == '"' && quote) {
            quote = 0;
        } else if ((c == '"' || c == '\'') && !quote) {
            quote = c;
        } else {
            g_string_append_c(w, c);
        }
        if (!ok) {
            g_string_free(w, TRUE);
            return FALSE;
        }
    }
    if (quote)
        return fail(p, error, "a %s quote is not closed", quote == '"' ? "double" : "single");
    return TRUE;
}

/* A JSON array of strings (the exec form), or NULL when text is not one. */
static GPtrArray *json_words(Parser *p, const char *text, gboolean expand, GError **error)
{
    g_autoptr(JsonParser) jp = json_parser_new();
    GPtrArray *out;
    JsonNode *root;

    if (!json_parser_load_from_data(jp, text, -1, NULL) ||
        !JSON_NODE_HOLDS_ARRAY((root = json_parser_get_root(jp)))) {
        fail(p, error, "'%.80s' starts like a JSON array (exec form) but is not one", text);
        return NULL;
    }
    JsonArray *a = json_node_get_array(root);
    out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
            g_ptr_array_unref(out);
            fail(p, error, "the exec form takes strings only");
            return NULL;
        }
        const char *v = json_node_get_string(n);
        if (expand) {
            g_autoptr(GString) w = g_string_new(NULL);
            for (const char *s = v; *s;) {
                if (*s == '$') {
                    s++;
                    if (!expand_var(p, &s, w, error)) {
                        g_ptr_array_unref(out);
                        return NULL;
                    }
                } else {
                    g_string_append_c(w, *s++);
                }
            }
            g_ptr_array_add(out, g_strdup(w->str));
        } else {
            g_ptr_array_add(out, g_strdup(v));
        }
    }
    return out;
}

/* Takes leading --name=value flags off *rest; refuses those not in allowed. */
static gboolean take_flags(Parser *p, char **rest, const char *const *allowed, char **values,
                           GError **error)
{
    while (g_str_has_prefix(*rest, "--")) {
        char *end = *rest;
        while (*end && !g_ascii_isspace(*end))
            end++;
        g_autofree char *flag = g_strndup(*rest, (gsize)(end - *rest));
        char *eq = strchr(flag, '=');
        gboolean known = FALSE;
        for (guint i = 0; allowed && allowed[i]; i++) {
            if (eq && (gsize)(eq - flag) == strlen(allowed[i]) &&
                strncmp(flag, allowed[i], strlen(allowed[i])) == 0) {
                g_free(values[i]);
                values[i] = g_strdup(eq + 1);
                known = TRUE;
            }
        }
        if (!known)
            return fail(p, error, "the flag %s is not supported", flag);
        *rest = g_strchug(end);
    }
    return TRUE;
}

/* ---- instructions ---- */

static gboolean do_from(Parser *p, char *rest, GError **error)
{
    g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
    if (p->have_from)
        return fail(p, error, "a second FROM: multi-stage builds are not supported");
    if (!take_flags(p, &rest, NULL, NULL, error) || !lex_words(p, rest, w, error))
        return FALSE;
    if (w->len != 1 && !(w->len == 3 && g_ascii_strcasecmp(w->pdata[1], "AS") == 0))
        return fail(p, error, "FROM takes one template name");
    if (strpbrk(w->pdata[0], ":/@"))
        return fail(p, error, "FROM '%s': name a template of this host (oc template list), not "
                    "an image from a registry", (char *)w->pdata[0]);
    g_free(p->spec->parent);
    p->spec->parent = g_strdup(w->pdata[0]);
    p->have_from = TRUE;
    return TRUE;
}

static char **arg_env(Parser *p)
{
    g_autoptr(GPtrArray) env = g_ptr_array_new();
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, p->args);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (v)
            g_ptr_array_add(env, g_strdup_printf("%s=%s", (char *)k, (char *)v));
    if (env->len == 0)
        return NULL;
    g_ptr_array_sort(env, image_strcmp_indirect); /* a stable cache key */
    g_ptr_array_add(env, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&env), FALSE);
}

static gboolean do_run(Parser *p, char *rest, GError **error)
{
    BuildStep *step;
    if (!take_flags(p, &rest, NULL, NULL, error))
        return FALSE;
    if (!*rest)
        return fail(p, error, "RUN needs a command");
    if (rest[0] == '[') {
        g_autoptr(GPtrArray) w = json_words(p, rest, FALSE, error);
        if (!w)
            return FALSE;
        g_ptr_array_add(w, NULL);
        step = build_spec_add(p->spec, BUILD_RUN, (const char *const *)w->pdata, p->line);
        step->exec_form = TRUE;
    } else {
        const char *args[] = { rest, NULL };
        step = build_spec_add(p->spec, BUILD_RUN, args, p->line);
    }
    step->env = arg_env(p);
    return TRUE;
}

static gboolean do_copy(Parser *p, char *rest, GError **error)
{
    static const char *const flags[] = { "--chown", "--chmod", NULL };
    char *values[2] = { NULL, NULL };
    g_autoptr(GPtrArray) w = NULL;
    gboolean ok = take_flags(p, &rest, flags, values, error);
    guint64 mode = 0;

    if (ok && values[1] && (!g_ascii_string_to_unsigned(values[1], 8, 0, 07777, &mode, NULL)))
        ok = fail(p, error, "--chmod takes an octal mode such as 0644");
    if (ok) {
        if (rest[0] == '[') {
            ok = (w = json_words(p, rest, TRUE, error)) != NULL;
        } else {
            w = g_ptr_array_new_with_free_func(g_free);
            ok = lex_words(p, rest, w, error);
        }
    }
    if (ok && w->len < 2)
        ok = fail(p, error, "COPY takes one or more sources and a destination");
    if (ok) {
        g_ptr_array_add(w, NULL);
        BuildStep *step = build_spec_add(p->spec, BUILD_COPY, (const char *const *)w->pdata,
                                         p->line);
        step->chown = g_steal_pointer(&values[0]);
        step->chmod = (guint32)mode;
    }
    g_free(values[0]);
    g_free(values[1]);
    return ok;
}

static gboolean set_env(Parser *p, const char *key, const char *value, GError **error)
{
    const char *args[] = { key, value, NULL };
    if (!*key)
        return fail(p, error, "ENV: an empty name");
    build_spec_add(p->spec, BUILD_ENV, args, p->line);
    g_hash_table_replace(p->vars, g_strdup(key), g_strdup(value));
    return TRUE;
}

static gboolean do_env(Parser *p, char *rest, GError **error)
{
    g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
    char *first_blank = rest + strcspn(rest, " \t");
    char *first_eq = strchr(rest, '=');

    if (!*rest)
        return fail(p, error, "ENV needs KEY=VALUE");
    if (!first_eq || first_eq > first_blank) {
        /* the old form, ENV KEY the rest of the line */
        g_autofree char *key = g_strndup(rest, (gsize)(first_blank - rest));
        g_autoptr(GPtrArray) v = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GString) value = g_string_new(NULL);
        if (!lex_words(p, g_strchug(first_blank), v, error))
            return FALSE;
        for (guint i = 0; i < v->len; i++)
            g_string_append_printf(value, "%s%s", i ? " " : "", (char *)v->pdata[i]);
        return set_env(p, key, value->str, error);
    }
    if (!lex_words(p, rest, w, error))
        return FALSE;
    for (guint i = 0; i < w->len; i++) {
        char *kv = w->pdata[i], *eq = strchr(kv, '=');
        if (!eq)
            return fail(p, error, "ENV '%s' is not KEY=VALUE", kv);
        *eq = '\0';
        if (!set_env(p, kv, eq + 1, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean do_workdir(Parser *p, char *rest, GError **error)
{
    g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
    if (!lex_words(p, rest, w, error))
        return FALSE;
    if (w->len != 1)
        return fail(p, error, "WORKDIR takes one path");
    /* relative to the one before, as in Docker */
    g_autofree char *joined = g_build_filename(p->workdir, w->pdata[0], NULL);
    g_autofree char *path = g_canonicalize_filename(joined, "/");
    const char *args[] = { path, NULL };
    build_spec_add(p->spec, BUILD_WORKDIR, args, p->line);
    g_free(p->workdir);
    p->workdir = g_steal_pointer(&path);
    return TRUE;
}

static gboolean do_user(Parser *p, char *rest, GError **error)
{
    g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
    if (!lex_words(p, rest, w, error))
        return FALSE;
    if (w->len != 1)
        return fail(p, error, "USER takes USER[:GROUP]");
    g_ptr_array_add(w, NULL);
    build_spec_add(p->spec, BUILD_USER, (const char *const *)w->pdata, p->line);
    return TRUE;
}

static gboolean do_arg(Parser *p, char *rest, GError **error)
{
    g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
    if (!lex_words(p, rest, w, error))
        return FALSE;
    if (w->len == 0)
        return fail(p, error, "ARG needs a NAME or NAME=default");
    for (guint i = 0; i < w->len; i++) {
        char *name = w->pdata[i], *eq = strchr(name, '=');
        const char *value = NULL;
        if (eq)
            *eq = '\0';
        if (!*name || !(g_ascii_isalpha(name[0]) || name[0] == '_'))
            return fail(p, error, "ARG name '%s' is not valid", name);
        for (const char *const *b = p->build_args; b && *b; b++)
            if (g_str_has_prefix(*b, name) && (*b)[strlen(name)] == '=')
                value = *b + strlen(name) + 1;
        if (!value && eq)
            value = eq + 1;
        g_hash_table_replace(p->args, g_strdup(name), g_strdup(value));
        if (value)
            g_hash_table_replace(p->vars, g_strdup(name), g_strdup(value));
    }
    return TRUE;
}

/* LABEL opencomputer.agent='["/path/to/agent", "arg"]' (or one path): the
 * program oc_agent_start() runs in the template's sandboxes.  Other labels
 * are refused like unknown instructions: they would be dropped. */
static gboolean do_label(Parser *p, char *rest, GError **error)
{
    g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
    if (!lex_words(p, rest, w, error))
        return FALSE;
    if (w->len == 0)
        return fail(p, error, "LABEL needs KEY=VALUE");
    for (guint i = 0; i < w->len; i++) {
        char *kv = w->pdata[i], *eq = strchr(kv, '=');
        g_autoptr(GPtrArray) argv = NULL;
        if (eq)
            *eq = '\0';
        if (!eq || strcmp(kv, OC_DOCKERFILE_AGENT_LABEL) != 0)
            return fail(p, error, "LABEL %s is not supported: the only label a template keeps "
                        "is " OC_DOCKERFILE_AGENT_LABEL "=[\"/path/to/agent\", \"arg\", ...], "
                        "its agent program", kv);
        if (eq[1] == '[') {
            if (!(argv = json_words(p, eq + 1, FALSE, error)))
                return FALSE;
        } else {
            argv = g_ptr_array_new_with_free_func(g_free);
            g_ptr_array_add(argv, g_strdup(eq + 1));
        }
        if (argv->len == 0 || ((char *)argv->pdata[0])[0] != '/')
            return fail(p, error, "LABEL " OC_DOCKERFILE_AGENT_LABEL " takes the agent "
                        "program's absolute path in the sandbox, or a JSON array of it and its "
                        "arguments");
        g_ptr_array_add(argv, NULL);
        build_spec_add(p->spec, BUILD_AGENT, (const char *const *)argv->pdata, p->line);
    }
    return TRUE;
}

typedef gboolean (*InstructionFn)(Parser *p, char *rest, GError **error);

static const struct {
    const char *name;
    InstructionFn fn;
} instructions[] = {
    { "FROM", do_from }, { "RUN", do_run },         { "COPY", do_copy }, { "ENV", do_env },
    { "WORKDIR", do_workdir }, { "USER", do_user }, { "ARG", do_arg },
    { "LABEL", do_label },
};

static gboolean instruction(Parser *p, char *text, GError **error)
{
    char *rest = text + strcspn(text, " \t");
    g_autofree char *word = g_strndup(text, (gsize)(rest - text));
    rest = g_strchomp(g_strchug(rest));
    for (guint i = 0; i < G_N_ELEMENTS(instructions); i++) {
        if (g_ascii_strcasecmp(word, instructions[i].name) != 0)
            continue;
        if (!p->have_from && instructions[i].fn != do_from && instructions[i].fn != do_arg)
            return fail(p, error, "%s before FROM: the file must start with FROM <template>",
                        instructions[i].name);
        return instructions[i].fn(p, rest, error);
    }
    if (g_ascii_strcasecmp(word, "ADD") == 0)
        return fail(p, error, "ADD is not supported: use COPY (archives and URLs are not "
                    "fetched or unpacked)");
    return fail(p, error, "%s is not supported (supported: FROM, RUN, COPY, ENV, WORKDIR, USER, "
                "ARG, LABEL " OC_DOCKERFILE_AGENT_LABEL ")", word);
}

/* A parser directive ("# escape=`") would change how every line reads. */
static gboolean directive(Parser *p, const char *comment, GError **error)
{
    g_autofree char *c = g_ascii_strdown(comment, -1);
    g_strstrip(c);
    if (g_str_has_prefix(c, "escape=") && strcmp(c, "escape=\\") != 0)
        return fail(p, error, "the escape directive is not supported");
    return TRUE;
}

BuildSpec *build_spec_from_dockerfile(const char *text, const char *context_dir,
                                      const char *const *build_args, GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    g_autoptr(GString) logical = g_string_new(NULL);
    Parser p = {
        .spec = build_spec_new(NULL, context_dir),
        .vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        .args = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        .build_args = build_args,
        .workdir = g_strdup("/"),
    };
    gboolean ok = TRUE, in_continuation = FALSE, header = TRUE;
    guint start = 0;

    for (guint i = 0; ok && lines[i]; i++) {
        char *l = lines[i];
        gsize n = strlen(l);
        if (n && l[n - 1] == '\r')
            l[--n] = '\0';
        char *t = l + strspn(l, " \t");
        if (*t == '#') {
            p.line = i + 1;
            if (header)
                ok = directive(&p, t + 1, error);
            continue; /* comments go, even inside a continuation, as in Docker */
        }
        header = FALSE;
        if (!*t && !in_continuation)
            continue;
        if (!in_continuation)
            start = i + 1;
        else
            t = l; /* a continued line keeps its indentation: the text is joined as it is */
        g_strchomp(t);
        n = strlen(t);
        in_continuation = n && t[n - 1] == '\\';
        g_string_append_len(logical, t, in_continuation ? (gssize)n - 1 : (gssize)n);
        if (in_continuation)
            continue;
        p.line = start;
        ok = instruction(&p, logical->str, error);
        g_string_truncate(logical, 0);
    }
    if (ok && in_continuation) {
        p.line = start;
        ok = instruction(&p, logical->str, error);
    }
    if (ok && !p.have_from) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "the Dockerfile has no FROM <template>");
        ok = FALSE;
    }
    g_hash_table_unref(p.vars);
    g_hash_table_unref(p.args);
    g_free(p.workdir);
    if (!ok) {
        build_spec_free(p.spec);
        return NULL;
    }
    return p.spec;
}
