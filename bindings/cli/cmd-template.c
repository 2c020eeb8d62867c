/* cmd-template.c: oc template list, oc template get|delete|prepare|status
 * NAME..., oc pool status [TEMPLATE...] (templates, their ready snapshots
 * and the warm pool). */
#include <stdio.h>

#include "cli.h"

typedef struct TemplateVerb TemplateVerb;

/* A verb that asks the library the same about each template it names. */
struct TemplateVerb {
    const char *usage;   /* the GOptionContext parameter string */
    gboolean boots;      /* it may boot a VM: warn about TCG */
    const char *header;  /* a line before the rows, or NULL */
    char **fallback;     /* the templates when none are named; NULL: one is needed */
    /* Asks the library about one template; sets the answer's fields in o. */
    int (*query)(Cli *cli, const char *name, JsonObject *o, oc_error **err);
    /* Prints one answer as a row; NULL: "NAME: yes" or "NAME: no" after
     * the boolean member key. */
    void (*print)(const TemplateVerb *v, JsonObject *o);
    const char *key, *yes, *no;
};

static void print_yes_no(const TemplateVerb *v, JsonObject *o)
{
    printf("%s: %s\n", json_object_get_string_member(o, "template"),
           json_object_get_boolean_member(o, v->key) ? v->yes : v->no);
}

/* With --json prints the array; frees it. */
static void print_array(Cli *cli, JsonArray *a)
{
    if (cli->json) {
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);
        json_node_take_array(node, a);
        cli_print_json(node);
    } else {
        json_array_unref(a);
    }
}

/* Parses, then runs v->query on each template: with --json prints an array
 * of {"template": NAME, ...}, otherwise a row each.  The exit code is the
 * worst. */
static int template_verb(Cli *cli, int argc, char **argv, const TemplateVerb *v)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new(v->usage);
    void (*print)(const TemplateVerb *, JsonObject *) = v->print ? v->print : print_yes_no;
    JsonArray *a;
    oc_error *err = NULL;
    char **names;
    int rc = 0;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 2 && !v->fallback)
        return cli_usage(oc, "expected at least one template name");
    names = argc < 2 ? v->fallback : argv + 1;
    if (v->boots)
        cli_warn_if_tcg(cli);
    if (v->header && !cli->json)
        printf("%s\n", v->header);
    a = json_array_new();
    for (; *names; names++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "template", *names);
        if (v->query(cli, *names, o, &err) < 0) {
            rc = cli_fail(err);
            err = NULL;
            json_object_unref(o);
            continue;
        }
        if (!cli->json)
            print(v, o);
        json_array_add_object_element(a, o);
    }
    print_array(cli, a);
    return rc;
}

static int prepare_query(Cli *cli, const char *name, JsonObject *o, oc_error **err)
{
    int built = 0;

    if (oc_template_prepare(cli->ctx, name, 0, &built, err) < 0)
        return -1;
    json_object_set_boolean_member(o, "built", built);
    return 0;
}

static int template_prepare(Cli *cli, int argc, char **argv)
{
    static const TemplateVerb v = {
        .usage = "NAME... - build templates' ready snapshots where missing or stale (a cold "
                 "boot each); prints NAME: built, or NAME: fresh when there was nothing to do",
        .boots = TRUE,
        .query = prepare_query,
        .key = "built", .yes = "built", .no = "fresh",
    };

    return template_verb(cli, argc, argv, &v);
}

static int status_query(Cli *cli, const char *name, JsonObject *o, oc_error **err)
{
    int ready = 0;

    if (oc_template_snapshot_ready(cli->ctx, name, &ready, err) < 0)
        return -1;
    json_object_set_boolean_member(o, "ready", ready);
    return 0;
}

static int template_status(Cli *cli, int argc, char **argv)
{
    static const TemplateVerb v = {
        .usage = "NAME... - whether templates' ready snapshots are fresh; prints NAME: fresh, "
                 "or NAME: stale when missing or out of date (oc create then boots; oc "
                 "template prepare builds it)",
        .query = status_query,
        .key = "ready", .yes = "fresh", .no = "stale",
    };

    return template_verb(cli, argc, argv, &v);
}

/* A template's fields, named as the OpenComputer SDK names a template's. */
static void template_fields(const oc_template_info *t, JsonObject *o)
{
    g_autofree char *created = cli_iso_time(oc_template_info_created_at(t));
    JsonArray *steps = json_array_new();

    json_object_set_string_member(o, "template", oc_template_info_name(t));
    json_object_set_string_member(o, "parent", oc_template_info_parent(t));
    json_object_set_string_member(o, "createdAt", created);
    json_object_set_int_member(o, "sizeBytes", (gint64)oc_template_info_size_bytes(t));
    json_object_set_int_member(o, "diskBytes", (gint64)oc_template_info_disk_bytes(t));
    JsonArray *env = json_array_new();

    for (const char *const *s = oc_template_info_steps(t); *s; s++)
        json_array_add_string_element(steps, *s);
    json_object_set_array_member(o, "steps", steps);
    for (const char *const *e = oc_template_info_env(t); *e; e++)
        json_array_add_string_element(env, *e);
    json_object_set_array_member(o, "env", env);
    json_object_set_string_member(o, "workdir", oc_template_info_workdir(t));
    json_object_set_string_member(o, "user", oc_template_info_user(t));
    json_object_set_string_member(o, "importedFrom", oc_template_info_imported_from(t));
    if (oc_template_info_agent(t)) {
        JsonArray *agent = json_array_new();
        for (const char *const *a = oc_template_info_agent(t); *a; a++)
            json_array_add_string_element(agent, *a);
        json_object_set_array_member(o, "agent", agent);
    }
}

static void template_row(const TemplateVerb *v, JsonObject *o)
{
    const char *parent = json_object_get_string_member(o, "parent");
    (void)v;
    printf("%-24s %-16s %-26s %8" G_GINT64_FORMAT "M %8" G_GINT64_FORMAT "M\n",
           json_object_get_string_member(o, "template"), parent ? parent : "-",
           json_object_get_string_member(o, "createdAt"),
           json_object_get_int_member(o, "sizeBytes") >> 20,
           json_object_get_int_member(o, "diskBytes") >> 20);
}

#define TEMPLATE_HEADER "NAME                     PARENT           CREATED                        SIZE     HOST"

static int get_query(Cli *cli, const char *name, JsonObject *o, oc_error **err)
{
    oc_template_info *t = NULL;

    if (oc_template_get(&t, cli->ctx, name, err) < 0)
        return -1;
    template_fields(t, o);
    oc_template_info_free(t);
    return 0;
}

static void get_print(const TemplateVerb *v, JsonObject *o)
{
    JsonArray *steps = json_object_get_array_member(o, "steps");
    template_row(v, o);
    JsonArray *env = json_object_get_array_member(o, "env");
    const char *workdir = json_object_get_string_member(o, "workdir");
    const char *user = json_object_get_string_member(o, "user");
    for (guint i = 0; i < json_array_get_length(steps); i++)
        printf("  [%u/%u] %s\n", i + 1, json_array_get_length(steps),
               json_array_get_string_element(steps, i));
    for (guint i = 0; i < json_array_get_length(env); i++)
        printf("  env %s\n", json_array_get_string_element(env, i));
    if (workdir)
        printf("  workdir %s\n", workdir);
    const char *imported = json_object_get_string_member(o, "importedFrom");
    if (user)
        printf("  user %s\n", user);
    if (imported)
        printf("  imported from %s\n", imported);
}

static int template_get(Cli *cli, int argc, char **argv)
{
    static const TemplateVerb v = {
        .usage = "NAME... - templates' parent, creation time, disk size (SIZE, and HOST: what "
                 "its files take), build steps, and the env, workdir and user its sandboxes get",
        .header = TEMPLATE_HEADER,
        .query = get_query,
        .print = get_print,
    };

    return template_verb(cli, argc, argv, &v);
}

static int template_list(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new("- the templates of this host");
    oc_template_list *list = NULL;
    oc_error *err = NULL;
    JsonArray *a = json_array_new();

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv) || argc > 1) {
        json_array_unref(a);
        return argc > 1 ? cli_usage(oc, "oc template list takes no arguments") : CLI_EXIT_USAGE;
    }
    if (oc_template_list_get(&list, cli->ctx, 0, &err) < 0) {
        json_array_unref(a);
        return cli_fail(err);
    }
    if (!cli->json)
        printf("%s\n", TEMPLATE_HEADER);
    for (size_t i = 0; i < oc_template_list_count(list); i++) {
        JsonObject *o = json_object_new();
        template_fields(oc_template_list_at(list, i), o);
        if (!cli->json)
            template_row(NULL, o);
        json_array_add_object_element(a, o);
    }
    oc_template_list_free(list);
    print_array(cli, a);
    return 0;
}

static int delete_query(Cli *cli, const char *name, JsonObject *o, oc_error **err)
{
    if (oc_template_delete(cli->ctx, name, 0, err) < 0)
        return -1;
    json_object_set_boolean_member(o, "deleted", TRUE);
    return 0;
}

static int template_delete(Cli *cli, int argc, char **argv)
{
    static const TemplateVerb v = {
        .usage = "NAME... - delete templates (refused while sandboxes, checkpoints or other "
                 "templates build on one: the message names them)",
        .query = delete_query,
        .key = "deleted", .yes = "deleted", .no = "kept",
    };

    return template_verb(cli, argc, argv, &v);
}

int cmd_template(Cli *cli, int argc, char **argv)
{
    static const CliVerb verbs[] = {
        { "build", cmd_template_build, "build from a Dockerfile: oc template build NAME -f "
                                       "Dockerfile [--context DIR] [--build-arg K=V]" },
        { "import", cmd_template_import, "a template of a root filesystem tarball: oc template "
                                         "import NAME ROOTFS.tar" },
        { "list", template_list, "the templates of this host: oc template list" },
        { "get", template_get, "a template's details and build steps: oc template get NAME..." },
        { "delete", template_delete, "delete templates nothing uses: oc template delete NAME..." },
        { "prune", cmd_template_prune, "remove unneeded build layers: oc template prune "
                                       "[--keep-days N]" },
        { "prepare", template_prepare, "build ready snapshots: oc template prepare NAME..." },
        { "status", template_status, "are the ready snapshots fresh: oc template status NAME..." },
    };

    return cli_dispatch(cli, "template", verbs, G_N_ELEMENTS(verbs), argc, argv);
}

static int pool_query(Cli *cli, const char *name, JsonObject *o, oc_error **err)
{
    uint32_t ready = 0, target = 0;

    if (oc_pool_status(cli->ctx, name, &ready, &target, err) < 0)
        return -1;
    json_object_set_int_member(o, "ready", ready);
    json_object_set_int_member(o, "target", target);
    return 0;
}

static void pool_print(const TemplateVerb *v, JsonObject *o)
{
    printf("%-16s %6" G_GINT64_FORMAT " %6" G_GINT64_FORMAT "\n",
           json_object_get_string_member(o, "template"), json_object_get_int_member(o, "ready"),
           json_object_get_int_member(o, "target"));
}

static int pool_status(Cli *cli, int argc, char **argv)
{
    static char *base[] = { "base", NULL };
    static const TemplateVerb v = {
        .usage = "[TEMPLATE...] - unclaimed warm sandboxes per template on this host (default: "
                 "base); TARGET is what this process keeps, so 0 here: oc daemon --pool keeps "
                 "the pool",
        .header = "TEMPLATE          READY TARGET",
        .fallback = base,
        .query = pool_query,
        .print = pool_print,
    };

    return template_verb(cli, argc, argv, &v);
}

static int drain_query(Cli *cli, const char *name, JsonObject *o, oc_error **err)
{
    uint32_t killed = 0;

    if (oc_pool_drain(cli->ctx, name, &killed, err) < 0)
        return -1;
    json_object_set_int_member(o, "killed", killed);
    return 0;
}

static void drain_print(const TemplateVerb *v, JsonObject *o)
{
    printf("%s: %" G_GINT64_FORMAT " killed\n", json_object_get_string_member(o, "template"),
           json_object_get_int_member(o, "killed"));
}

static int pool_drain(Cli *cli, int argc, char **argv)
{
    static char *base[] = { "base", NULL };
    static const TemplateVerb v = {
        .usage = "[TEMPLATE...] - kill the unclaimed warm sandboxes of templates on this host "
                 "(default: base)",
        .fallback = base,
        .query = drain_query,
        .print = drain_print,
    };

    return template_verb(cli, argc, argv, &v);
}

int cmd_pool(Cli *cli, int argc, char **argv)
{
    static const CliVerb verbs[] = {
        { "status", pool_status, "ready and target counts: oc pool status [TEMPLATE...]" },
        { "drain", pool_drain, "kill unclaimed pool sandboxes: oc pool drain [TEMPLATE...]" },
    };

    return cli_dispatch(cli, "pool", verbs, G_N_ELEMENTS(verbs), argc, argv);
}
