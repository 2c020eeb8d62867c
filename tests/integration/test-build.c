/* test-build.c: template builds against real guests: a Dockerfile build
 * and a sandbox of the result, the layer cache, a failing step, bad input,
 * and an apt-get step (which needs the guest to reach a mirror).  One build
 * sandbox at a time, and one sandbox of a built template for the suite. */
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>

#include "itest.h"

#define T_MAIN "itest-build"
#define T_ENV "itest-build-env"
#define T_FAIL "itest-build-fail"
#define T_APT "itest-build-apt"

static oc_context *ctx;
static oc_sandbox *built;      /* a sandbox of T_MAIN */
static char *context_dir;      /* the build context, a temporary directory */
static gboolean guest_has_net; /* the sandbox of T_MAIN has a default route */
static char *run_id_arg;       /* RUN_ID=<a nonce of this run> */
static gint64 started;         /* unix seconds: layers made since are this run's */

static const char *state_dir(void)
{
    const char *d = g_getenv("OC_STATE_DIR");
    return d && *d ? d : "/var/lib/opencomputer";
}

/* The first RUN carries a nonce of the run (ARG RUN_ID): each run builds
 * from scratch, whatever the cache holds from an earlier one. */
static const char dockerfile[] =
    "FROM base\n"
    "ARG RUN_ID\n"
    "RUN echo hi > /built && echo $RUN_ID > /run-id\n"
    "COPY greeting.txt custom-agent /app/\n"
    "ENV X=1\n"
    "ENV Z=zed\n"
    "LABEL opencomputer.agent='[\"/app/custom-agent\", \"--flag\"]'\n"
    "WORKDIR /app\n"
    "RUN useradd -m builder && echo made > /home/builder/made\n"
    "USER builder\n"
    "RUN id -un > /home/builder/who\n";
#define DOCKERFILE_STEPS 9

/* The build log, a line each. */
static void collect(const char *line, void *user_data)
{
    g_ptr_array_add(user_data, g_strdup(line));
}

static GPtrArray *log_new(void)
{
    return g_ptr_array_new_with_free_func(g_free);
}

/* The first line that starts with prefix, or NULL. */
static const char *log_find(GPtrArray *log, const char *prefix)
{
    for (guint i = 0; i < log->len; i++)
        if (g_str_has_prefix(log->pdata[i], prefix))
            return log->pdata[i];
    return NULL;
}

static char *log_text(GPtrArray *log)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < log->len; i++)
        g_string_append_printf(s, "%s\n", (char *)log->pdata[i]);
    return g_string_free(s, FALSE);
}

static int build_dockerfile(const char *name, const char *text, GPtrArray *log, oc_error **err)
{
    oc_template_build_options o = OC_TEMPLATE_BUILD_OPTIONS_INIT;
    const char *args[] = { run_id_arg, NULL };

    o.dockerfile = text;
    o.build_args = args;
    o.context_dir = context_dir;
    o.log = collect;
    o.log_user_data = log;
    return oc_template_build(ctx, name, &o, err);
}

static void write_greeting(const char *text)
{
    g_autofree char *path = g_build_filename(context_dir, "greeting.txt", NULL);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
}

/* The template's agent program: it says how it was started, and as whom. */
static void write_custom_agent(void)
{
    g_autofree char *path = g_build_filename(context_dir, "custom-agent", NULL);
    ck_assert(g_file_set_contents(path, "#!/bin/sh\n"
                                        "echo \"{\\\"type\\\":\\\"ready\\\",\\\"args\\\":"
                                        "\\\"$*\\\",\\\"user\\\":\\\"$(id -un)\\\"}\"\n",
                                  -1, NULL));
    ck_assert_int_eq(g_chmod(path, 0755), 0);
}

/* The first event of an agent session started with opts in sandbox sb,
 * after the program ended. */
typedef struct {
    GMutex lock;
    GCond cond;
    char *first;
    gboolean ended;
} FirstEvent;

static void first_event(const char *type, const char *json, void *user_data)
{
    FirstEvent *f = user_data;
    g_mutex_lock(&f->lock);
    if (!f->first)
        f->first = g_strdup(json);
    g_mutex_unlock(&f->lock);
}

static void first_end(int status, int exit_code, void *user_data)
{
    FirstEvent *f = user_data;
    g_mutex_lock(&f->lock);
    f->ended = TRUE;
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

static char *agent_first_event(oc_sandbox *sb, const oc_agent_options *opts)
{
    FirstEvent f = { 0 };
    oc_agent_callbacks cb = { .version = OC_AGENT_CALLBACKS_VERSION, .on_event = first_event,
                              .on_end = first_end, .user_data = &f };
    oc_agent_session *s = NULL;
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

    OK(oc_agent_start(&s, sb, opts, &cb, &e_));
    g_mutex_lock(&f.lock);
    while (!f.ended && g_cond_wait_until(&f.cond, &f.lock, deadline))
        ;
    g_mutex_unlock(&f.lock);
    ck_assert_msg(f.ended, "the agent program did not end");
    oc_agent_close(s);
    return f.first ? f.first : g_strdup("");
}

static void delete_template(const char *name)
{
    oc_template_delete(ctx, name, 0, NULL);
}

static void setup_all(void)
{
    oc_error *err = NULL;

    if (oc_context_new(&ctx, NULL, &err) < 0) {
        fprintf(stderr, "cannot open a context: %s\n", oc_error_message(err));
        exit(1);
    }
    started = g_get_real_time() / G_USEC_PER_SEC;
    run_id_arg = g_strdup_printf("RUN_ID=%08x%08x", g_random_int(), g_random_int());
    context_dir = g_dir_make_tmp("oc-build-XXXXXX", NULL);
    ck_assert_ptr_nonnull(context_dir);
    write_greeting("hello from the host\n");
    write_custom_agent();
    /* a run that died may have left them */
    delete_template(T_MAIN);
    delete_template(T_ENV);
    delete_template(T_FAIL);
    delete_template(T_APT);
}

/* Removes the cache layers this run made: its Dockerfile's (their keys
 * hold its nonce, so no later build could use them) and apt-get's (so the
 * next run installs again rather than finding it cached). */
/* Removes cached layers whose step text contains what (from any run: a
 * step that must really run in this one). */
static void forget_layers(const char *what)
{
    g_autofree char *dir = g_build_filename(state_dir(), "cache", "layers", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *meta = g_build_filename(dir, n, NULL);
        g_autofree char *text = NULL;
        if (!g_str_has_suffix(n, ".json") || !g_file_get_contents(meta, &text, NULL, NULL) ||
            !strstr(text, what))
            continue;
        g_autofree char *stem = g_strndup(meta, strlen(meta) - strlen(".json"));
        g_autofree char *qcow = g_strconcat(stem, ".qcow2", NULL);
        g_unlink(qcow);
        g_unlink(meta);
    }
}

static gboolean own_step(const char *json)
{
    return strstr(json, "/run-id") || strstr(json, "greeting.txt") ||
           strstr(json, "WORKDIR /app") || strstr(json, "builder") ||
           strstr(json, "APT-INSTALL jq");
}

static void remove_own_layers(void)
{
    g_autofree char *dir = g_build_filename(state_dir(), "cache", "layers", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *meta = g_build_filename(dir, n, NULL);
        g_autofree char *text = NULL;
        GStatBuf st;
        if (!g_str_has_suffix(n, ".json") || g_stat(meta, &st) < 0 || st.st_mtime < started ||
            !g_file_get_contents(meta, &text, NULL, NULL) || !own_step(text))
            continue;
        g_autofree char *disk = g_strndup(meta, strlen(meta) - strlen(".json"));
        g_autofree char *qcow = g_strconcat(disk, ".qcow2", NULL);
        g_unlink(qcow);
        g_unlink(meta);
    }
}

static void teardown_all(void)
{
    g_autofree char *greeting = g_build_filename(context_dir, "greeting.txt", NULL);
    g_autofree char *agent = g_build_filename(context_dir, "custom-agent", NULL);

    if (built)
        oc_sandbox_kill(built, 0, NULL);
    oc_sandbox_unref(built);
    delete_template(T_MAIN);
    delete_template(T_ENV);
    delete_template(T_FAIL);
    delete_template(T_APT);
    remove_own_layers();
    g_unlink(greeting);
    g_unlink(agent);
    g_rmdir(context_dir);
    g_free(context_dir);
    g_free(run_id_arg);
    oc_context_unref(ctx);
}

START_TEST(test_dockerfile_build)
{
    g_autoptr(GPtrArray) log = log_new();
    oc_template_info *t = NULL;
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    const char *envs[] = { "X=2", NULL };
    const char *meta[] = { "oc-test=integration", "owner=build", NULL };
    char step[32];

    OK(build_dockerfile(T_MAIN, dockerfile, log, &e_));
    for (int i = 1; i <= DOCKERFILE_STEPS; i++) {
        g_snprintf(step, sizeof step, "[%d/%d] ", i, DOCKERFILE_STEPS);
        ck_assert_msg(log_find(log, step), "no line for step %d in the log", i);
    }
    ck_assert_ptr_nonnull(log_find(log, "[1/9] RUN echo hi > /built"));
    ck_assert_ptr_nonnull(log_find(log, "build sandbox sb-"));
    OK(oc_template_get(&t, ctx, T_MAIN, &e_));
    ck_assert_str_eq(oc_template_info_parent(t), "base");
    ck_assert_str_eq(oc_template_info_steps(t)[2], "ENV X=1");
    ck_assert_ptr_null(oc_template_info_steps(t)[DOCKERFILE_STEPS]);
    ck_assert_str_eq(oc_template_info_env(t)[0], "X=1");
    ck_assert_str_eq(oc_template_info_env(t)[1], "Z=zed");
    ck_assert_ptr_null(oc_template_info_env(t)[2]);
    ck_assert_str_eq(oc_template_info_workdir(t), "/app");
    ck_assert_str_eq(oc_template_info_user(t), "builder");
    ck_assert_str_eq(oc_template_info_agent(t)[0], "/app/custom-agent");
    ck_assert_str_eq(oc_template_info_agent(t)[1], "--flag");
    ck_assert_ptr_null(oc_template_info_agent(t)[2]);
    oc_template_info_free(t);

    /* Its sandboxes: the files, its ENV under the caller's envs, its
     * WORKDIR and USER. */
    so.template_name = T_MAIN;
    so.envs = envs;
    so.metadata = meta;
    so.memory_mb = 256;
    OK(oc_sandbox_create(&built, ctx, &so, &e_));
    g_autofree char *out = itest_sh(built, "cat /built /app/greeting.txt /home/builder/who "
                                           "/home/builder/made; echo X=$X Z=$Z; pwd; id -un; "
                                           "echo HOME=$HOME");
    ck_assert_str_eq(out, "hi\nhello from the host\nbuilder\nmade\nX=2 Z=zed\n/app\nbuilder\n"
                          "HOME=/home/builder\n");
    /* the caller may still run as another user, and an unknown one is an
     * error naming it */
    oc_exec_options eo = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r = NULL;
    eo.user = "root";
    OK(oc_exec_run(&r, built, "id -un; pwd", &eo, &e_));
    ck_assert_str_eq(oc_exec_result_stdout(r, NULL), "root\n/app\n");
    oc_exec_result_free(r);
    eo.user = "oc-nobody-here";
    FAILS(OC_EINVAL, oc_exec_run(&r, built, "id", &eo, &err), "no user 'oc-nobody-here'");
    /* for the apt-get test: whether the guest has a network */
    OK(oc_exec_run(&r, built, "ip route | grep -q '^default'", NULL, &e_));
    guest_has_net = oc_exec_result_exit_code(r) == 0;
    oc_exec_result_free(r);
    /* Agent sessions run the template's program (as its USER) unless told
     * otherwise: its arguments replaced, or another program. */
    oc_agent_options ao = OC_AGENT_OPTIONS_INIT;
    g_autofree char *ev1 = agent_first_event(built, &ao);
    ck_assert_str_eq(ev1, "{\"type\":\"ready\",\"args\":\"--flag\",\"user\":\"builder\"}");
    const char *other[] = { "--other", "two", NULL };
    ao.args = other;
    g_autofree char *ev2 = agent_first_event(built, &ao);
    ck_assert_str_eq(ev2, "{\"type\":\"ready\",\"args\":\"--other two\",\"user\":\"builder\"}");
    ao.program = "/bin/echo";
    ao.args = (const char *[]){ "{\"type\":\"echoed\"}", NULL };
    g_autofree char *ev3 = agent_first_event(built, &ao);
    ck_assert_str_eq(ev3, "{\"type\":\"echoed\"}");
    /* the template is in use: its parent and itself cannot go */
    FAILS(OC_ESTATE, oc_template_delete(ctx, "base", 0, &err), "template " T_MAIN);
    FAILS(OC_ESTATE, oc_template_delete(ctx, T_MAIN, 0, &err), oc_sandbox_id(built));
}
END_TEST

START_TEST(test_cache)
{
    g_autoptr(GPtrArray) log = log_new();
    g_autoptr(GPtrArray) again = log_new();
    g_autofree char *text = NULL;
    guint steps = 0;

    /* nothing changed: every step cached, no sandbox */
    OK(build_dockerfile(T_MAIN, dockerfile, log, &e_));
    text = log_text(log);
    for (guint i = 0; i < log->len; i++) {
        const char *l = log->pdata[i];
        if (l[0] != '[')
            continue;
        steps++;
        ck_assert_msg(g_str_has_suffix(l, " (cached)"), "not cached: %s\nlog:\n%s", l, text);
    }
    ck_assert_uint_eq(steps, DOCKERFILE_STEPS);
    ck_assert_msg(!strstr(text, "build sandbox"), "a sandbox was started:\n%s", text);

    /* A prune that keeps nothing for its age keeps the layers the template
     * was made from: what follows still starts from the first one. */
    oc_template_prune_options po = OC_TEMPLATE_PRUNE_OPTIONS_INIT;
    uint32_t kept = 0;
    po.keep_days = 0;
    OK(oc_template_prune(ctx, &po, NULL, NULL, &kept, &e_));
    ck_assert_uint_ge(kept, 4); /* the RUN, COPY, RUN and RUN steps' */

    /* a copied file changed: the build starts again at its COPY (the
     * template's new version is left to the sandbox of the old one) */
    write_greeting("hello again\n");
    OK(build_dockerfile(T_MAIN, dockerfile, again, &e_));
    g_free(text);
    text = log_text(again);
    ck_assert_msg(g_str_has_suffix(log_find(again, "[1/9] RUN echo hi"), " (cached)"), "%s",
                  text);
    ck_assert_msg(log_find(again, "starting a build sandbox from the cached layers"), "%s", text);
    ck_assert_msg(!strstr(text, "[2/9] COPY greeting.txt custom-agent /app/ (cached)"), "%s",
                  text);
    ck_assert_msg(log_find(again, "[2/9] COPY greeting.txt custom-agent /app/"), "%s", text);
    ck_assert_msg(log_find(again, "[9/9] RUN id -un > /home/builder/who"), "%s", text);
    ck_assert_msg(!strstr(text, "[9/9] RUN id -un > /home/builder/who (cached)"), "%s", text);
    write_greeting("hello from the host\n");
}
END_TEST

/* Every layer file in the cache has its json: no half layer. */
static void assert_layers_whole(void)
{
    g_autofree char *dir = g_build_filename(state_dir(), "cache", "layers", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        if (!g_str_has_suffix(n, ".qcow2"))
            continue;
        g_autofree char *key = g_strndup(n, strlen(n) - strlen(".qcow2"));
        g_autofree char *meta = g_strdup_printf("%s/%s.json", dir, key);
        ck_assert_msg(g_file_test(meta, G_FILE_TEST_EXISTS), "layer %s has no json", n);
    }
}

/* No file of a build left in templates/: a template or a disk being made. */
static void assert_no_build_files(const char *name)
{
    g_autofree char *dir = g_build_filename(state_dir(), "templates", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        ck_assert_msg(!g_str_has_prefix(n, ".build-") && !g_str_has_prefix(n, ".new-") &&
                          strcmp(n, name) != 0,
                      "%s/%s is left behind", dir, n);
    }
}

START_TEST(test_failing_run)
{
    g_autoptr(GPtrArray) log = log_new();
    oc_template_info *t = NULL;
    oc_error *failed = NULL;
    const char *ready, *id;

    ck_assert_int_eq(build_dockerfile(T_FAIL, "FROM base\nENV A=1\n"
                                      "RUN echo first-line && echo the-last-words >&2 && exit 3\n",
                                      log, &failed), OC_ECOMMAND);
    const char *msg = oc_error_message(failed);
    ck_assert_msg(strstr(msg, "step 2/2") && strstr(msg, "Dockerfile line 3") &&
                      strstr(msg, "exit code 3") && strstr(msg, "the-last-words") &&
                      strstr(msg, "first-line"),
                  "the error does not name the step, code and output: %s", msg);
    oc_error_free(failed);
    ck_assert_ptr_nonnull(log_find(log, "the-last-words"));
    FAILS(OC_ENOTFOUND, oc_template_get(&t, ctx, T_FAIL, &err), T_FAIL);
    assert_no_build_files(T_FAIL);
    assert_layers_whole();
    /* its sandbox is gone: domain and directory */
    ready = log_find(log, "build sandbox sb-");
    ck_assert_ptr_nonnull(ready);
    g_autofree char *sid = g_strndup(ready + strlen("build sandbox "), 15);
    id = sid;
    g_autofree char *sdir = g_build_filename(state_dir(), "sandboxes", id, NULL);
    ck_assert_msg(!g_file_test(sdir, G_FILE_TEST_EXISTS), "%s is left behind", sdir);
    virConnectPtr c = virConnectOpen("qemu:///system");
    ck_assert_ptr_nonnull(c);
    virDomainPtr dom = virDomainLookupByName(c, id);
    ck_assert_msg(dom == NULL, "the build's domain %s is left behind", id);
    virConnectClose(c);
}
END_TEST

START_TEST(test_bad_input)
{
    g_autoptr(GPtrArray) log = log_new();
    oc_template_build_options o = OC_TEMPLATE_BUILD_OPTIONS_INIT;
    const char *env_args[] = { "A", "b", NULL };
    const char *user_args[] = { "nobody", NULL };
    oc_build_step steps[] = {
        { .kind = OC_BUILD_STEP_ENV, .args = env_args },
        { .kind = 99, .args = env_args },
    };
    oc_template_info *t = NULL;

    FAILS(OC_EINVAL, build_dockerfile("../x", dockerfile, log, &err), "'../x' is not valid");
    FAILS(OC_EINVAL, build_dockerfile("x", "FROM base\nEXPOSE 80\n", log, &err), "line 2");
    FAILS(OC_EINVAL, build_dockerfile("x", "FROM base\nEXPOSE 80\n", log, &err), "EXPOSE");
    FAILS(OC_EINVAL, build_dockerfile("x", "FROM base\nCOPY ../etc/passwd /p\n", log, &err),
          "inside the build context");
    FAILS(OC_EINVAL, build_dockerfile("base", "FROM base\nRUN true\n", log, &err),
          "built from itself");
    ck_assert_msg(log->len == 0, "a rejected build logged: %s", (char *)log->pdata[0]);
    assert_no_build_files("x");
    FAILS(OC_ENOTFOUND, oc_template_get(&t, ctx, "x", &err), "x");

    /* exec options of version 1 (no user) are still filled and taken */
    oc_exec_options v1;
    memset(&v1, 0xab, sizeof v1);
    ck_assert_int_eq(oc_exec_options_init(&v1, 1), OC_OK);
    ck_assert_uint_eq(v1.version, 1);
    ck_assert_ptr_eq(v1.user, (const char *)(uintptr_t)0xabababababababab);
    ck_assert_int_eq(oc_exec_options_init(&v1, 3), OC_EINVAL);

    /* the step list: an unknown kind, then a good list of settings only,
     * which needs no sandbox */
    o.steps = steps;
    o.step_count = 2;
    FAILS(OC_EINVAL, oc_template_build(ctx, T_ENV, &o, &err), "step 2 has unknown kind 99");
    steps[1] = (oc_build_step){ .kind = OC_BUILD_STEP_USER, .args = user_args };
    o.log = collect;
    o.log_user_data = log;
    OK(oc_template_build(ctx, T_ENV, &o, &e_));
    ck_assert_ptr_null(log_find(log, "starting a build sandbox"));
    OK(oc_template_get(&t, ctx, T_ENV, &e_));
    ck_assert_str_eq(oc_template_info_steps(t)[0], "ENV A=b");
    ck_assert_str_eq(oc_template_info_steps(t)[1], "USER nobody");
    oc_template_info_free(t);
    OK(oc_template_delete(ctx, T_ENV, 0, &e_));
}
END_TEST

START_TEST(test_apt)
{
    g_autoptr(GPtrArray) log = log_new();
    oc_template_build_options o = OC_TEMPLATE_BUILD_OPTIONS_INIT;
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    const char *pkgs[] = { "jq", NULL };
    oc_build_step steps[] = { { .kind = OC_BUILD_STEP_APT, .args = pkgs } };
    oc_sandbox *sb = NULL;

    if (!guest_has_net) {
        printf("# SKIP apt-get install: the guest has no network (no default route in "
               "`ip route`); this test runs once sandboxes have one\n");
        return;
    }
    o.steps = steps;
    o.step_count = 1;
    o.log = collect;
    o.log_user_data = log;
    forget_layers("\"APT-INSTALL jq\""); /* so that apt-get really runs */
    OK(oc_template_build(ctx, T_APT, &o, &e_));
    ck_assert_ptr_nonnull(log_find(log, "[1/1] APT-INSTALL jq"));
    ck_assert_msg(!g_str_has_suffix(log_find(log, "[1/1] APT-INSTALL jq"), "(cached)"),
                  "apt-get did not run");
    so.template_name = T_APT;
    so.memory_mb = 256;
    OK(oc_sandbox_create(&sb, ctx, &so, &e_));
    g_autofree char *out = itest_sh(sb, "echo '{\"a\": 7}' | jq .a");
    ck_assert_str_eq(out, "7\n");
    OK(oc_sandbox_kill(sb, 0, &e_));
    oc_sandbox_unref(sb);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_bad_input,
        test_dockerfile_build,
        test_cache,
        test_failing_run,
        test_apt,
    };

    return itest_main("build", 1800, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
