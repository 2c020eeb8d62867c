/* test-buildspec.c: template build steps from a Dockerfile (what each
 * instruction becomes, and the errors that name the line), their checks,
 * and the cache keys that decide which steps a rebuild can skip.  No VM. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "image/buildspec.h"
#include "util/error.h"

static char *ctxdir;

static void put_file(const char *rel, const char *text)
{
    g_autofree char *path = g_build_filename(ctxdir, rel, NULL);
    g_autofree char *dir = g_path_get_dirname(path);
    g_mkdir_with_parents(dir, 0755);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
}

static void ctx_setup(void)
{
    ctxdir = g_dir_make_tmp("oc-buildspec-XXXXXX", NULL);
    put_file("hello.txt", "hello\n");
    put_file("app/main.py", "print('hi')\n");
    put_file("app/lib/util.py", "X = 1\n");
}

static void ctx_teardown(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", ctxdir);
    ck_assert_int_eq(system(cmd), 0);
    g_clear_pointer(&ctxdir, g_free);
}

static BuildSpec *parse_ok(const char *text, const char *const *build_args)
{
    g_autoptr(GError) err = NULL;
    BuildSpec *spec = build_spec_from_dockerfile(text, ctxdir, build_args, &err);
    ck_assert_msg(spec, "%s", err ? err->message : "");
    ck_assert_msg(build_spec_validate(spec, &err), "%s", err ? err->message : "");
    return spec;
}

static void parse_fails(const char *text, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(BuildSpec) spec = build_spec_from_dockerfile(text, ctxdir, NULL, &err);
    if (spec)
        ck_assert_msg(!build_spec_validate(spec, &err), "accepted: %s", text);
    ck_assert(err);
    ck_assert_int_eq(err->code, OC_EINVAL);
    ck_assert_msg(strstr(err->message, needle), "'%s' not in: %s", needle, err->message);
}

static const BuildStep *step(const BuildSpec *spec, guint i)
{
    ck_assert_uint_lt(i, spec->steps->len);
    return spec->steps->pdata[i];
}

static void assert_args(const BuildStep *s, BuildStepKind kind, const char *const *want)
{
    ck_assert_int_eq(s->kind, kind);
    ck_assert_uint_eq(g_strv_length(s->args), g_strv_length((char **)want));
    for (guint i = 0; want[i]; i++)
        ck_assert_str_eq(s->args[i], want[i]);
}

START_TEST(test_dockerfile)
{
    g_autoptr(BuildSpec) spec = parse_ok(
        "# syntax=docker/dockerfile:1\n"
        "ARG PY=python3\n"
        "FROM base\n"
        "RUN apt-get update && \\\n"
        "    apt-get install -y jq   # not a comment: the shell's\n"
        "\n"
        "# a comment inside nothing\n"
        "copy hello.txt /etc/hello.txt\n"
        "ENV X=1 GREETING=\"hello world\" PATH_EXTRA=${PY}-bin\n"
        "ENV LEGACY value with spaces\n"
        "WORKDIR /app\n"
        "WORKDIR src\n"
        "COPY --chown=app:app --chmod=0640 [\"app\", \"./\"]\n"
        "USER app\n"
        "RUN [\"/usr/bin/env\", \"$PY\"]\r\n",
        NULL);

    ck_assert_str_eq(spec->parent, "base");
    ck_assert_uint_eq(spec->steps->len, 11);
    const char *run1[] = { "apt-get update &&     apt-get install -y jq   # not a comment: the shell's", NULL };
    assert_args(step(spec, 0), BUILD_RUN, run1);
    ck_assert_uint_eq(step(spec, 0)->line, 4);
    ck_assert_str_eq(step(spec, 0)->env[0], "PY=python3"); /* ARGs reach RUN as environment */
    const char *copy1[] = { "hello.txt", "/etc/hello.txt", NULL };
    assert_args(step(spec, 1), BUILD_COPY, copy1);
    ck_assert_uint_eq(step(spec, 1)->line, 8);
    const char *env1[] = { "X", "1", NULL }, *env2[] = { "GREETING", "hello world", NULL };
    const char *env3[] = { "PATH_EXTRA", "python3-bin", NULL };
    const char *env4[] = { "LEGACY", "value with spaces", NULL };
    assert_args(step(spec, 2), BUILD_ENV, env1);
    assert_args(step(spec, 3), BUILD_ENV, env2);
    assert_args(step(spec, 4), BUILD_ENV, env3);
    assert_args(step(spec, 5), BUILD_ENV, env4);
    const char *wd1[] = { "/app", NULL }, *wd2[] = { "/app/src", NULL };
    assert_args(step(spec, 6), BUILD_WORKDIR, wd1);
    assert_args(step(spec, 7), BUILD_WORKDIR, wd2);
    ck_assert_str_eq(step(spec, 8)->args[0], "app");
    ck_assert_str_eq(step(spec, 8)->chown, "app:app");
    ck_assert_uint_eq(step(spec, 8)->chmod, 0640);
    const char *user[] = { "app", NULL };
    assert_args(step(spec, 9), BUILD_USER, user);
    /* the exec form is argv, and not expanded (as in Docker) */
    const char *run2[] = { "/usr/bin/env", "$PY", NULL };
    assert_args(step(spec, 10), BUILD_RUN, run2);
    ck_assert(step(spec, 10)->exec_form);
    g_autofree char *d = build_step_describe(step(spec, 3));
    ck_assert_str_eq(d, "ENV GREETING=hello world");
}
END_TEST

START_TEST(test_exec_form_and_build_args)
{
    const char *build_args[] = { "PY=python3.11", "UNUSED=1", NULL };
    g_autoptr(BuildSpec) spec = parse_ok("FROM base\nARG PY=python3\nARG EMPTY\n"
                                         "RUN [\"/usr/bin/env\", \"$PY\"]\n"
                                         "ENV V=${PY:-none} W=${EMPTY:-dflt} Y=${PY:+set} Z=\\$PY 'Q=$PY'\n",
                                         build_args);
    const char *run[] = { "/usr/bin/env", "$PY", NULL };
    assert_args(step(spec, 0), BUILD_RUN, run);
    ck_assert(step(spec, 0)->exec_form);
    /* the caller's value wins over the default; an ARG without a value is not set */
    ck_assert_str_eq(step(spec, 0)->env[0], "PY=python3.11");
    ck_assert_ptr_null(step(spec, 0)->env[1]);
    ck_assert_str_eq(step(spec, 1)->args[1], "python3.11");
    ck_assert_str_eq(step(spec, 2)->args[1], "dflt");
    ck_assert_str_eq(step(spec, 3)->args[1], "set");
    ck_assert_str_eq(step(spec, 4)->args[1], "$PY");
    ck_assert_str_eq(step(spec, 5)->args[0], "Q");
    ck_assert_str_eq(step(spec, 5)->args[1], "$PY");
}
END_TEST

/* LABEL opencomputer.agent names the template's agent program: a JSON
 * array (program and arguments, ARGs expanded as Docker expands LABEL) or
 * one path; it is a setting like ENV, part of the cache key. */
START_TEST(test_agent_label)
{
    const char *build_args[] = { "MODE=fast", NULL };
    g_autoptr(BuildSpec) spec = parse_ok(
        "FROM base\nARG MODE=slow\n"
        "LABEL opencomputer.agent='[\"/opt/agent/run\", \"--mode\", \"$MODE\"]'\n"
        "LABEL \"opencomputer.agent=/usr/local/bin/other agent\"\n", build_args);
    const char *agent1[] = { "/opt/agent/run", "--mode", "$MODE", NULL };
    assert_args(step(spec, 0), BUILD_AGENT, agent1);
    ck_assert_uint_eq(step(spec, 0)->line, 3);
    const char *agent2[] = { "/usr/local/bin/other agent", NULL };
    assert_args(step(spec, 1), BUILD_AGENT, agent2);
    g_autofree char *d = build_step_describe(step(spec, 0));
    ck_assert_str_eq(d, "AGENT /opt/agent/run --mode $MODE");
    g_autoptr(GError) err = NULL;
    g_autofree char *k0 = build_step_key("p", step(spec, 0), ctxdir, &err);
    g_autofree char *k1 = build_step_key("p", step(spec, 1), ctxdir, &err);
    ck_assert_str_ne(k0, k1);

    parse_fails("FROM base\nLABEL maintainer=me\n", "line 2: LABEL maintainer is not supported");
    parse_fails("FROM base\nLABEL opencomputer.agent=run\n", "absolute path");
    parse_fails("FROM base\nLABEL opencomputer.agent='[]'\n", "absolute path");
    parse_fails("FROM base\nLABEL opencomputer.agent='[\"/a\", 2]'\n", "strings only");
    parse_fails("FROM base\nLABEL\n", "LABEL needs KEY=VALUE");
}
END_TEST

START_TEST(test_dockerfile_errors)
{
    parse_fails("FROM base\nRUN true\nCMD [\"sh\"]\n", "Dockerfile line 3: CMD is not supported");
    parse_fails("FROM base\nADD x.tar /\n", "line 2: ADD is not supported: use COPY");
    parse_fails("RUN true\nFROM base\n", "line 1: RUN before FROM");
    parse_fails("FROM base\nFROM base AS two\n", "line 2: a second FROM");
    parse_fails("FROM debian:bookworm\n", "not an image from a registry");
    parse_fails("FROM ../x\n", "not an image from a registry");
    parse_fails("FROM Base\n", "template name 'Base' is not valid");
    parse_fails("# just a comment\n", "no FROM");
    parse_fails("FROM base\nCOPY ../../etc/passwd /x\n", "line 2 (COPY ../../etc/passwd /x): source");
    parse_fails("FROM base\nCOPY /etc/passwd /x\n", "not a path inside the build context");
    parse_fails("FROM base\nCOPY missing.txt /x\n", "source 'missing.txt'");
    parse_fails("FROM base\nCOPY *.txt /x\n", "wildcards are not supported");
    parse_fails("FROM base\nCOPY --from=build a /x\n", "the flag --from=build is not supported");
    parse_fails("FROM base\nCOPY hello.txt\n", "COPY takes one or more sources and a destination");
    parse_fails("FROM base\nRUN --mount=type=cache true\n", "flag --mount=type=cache");
    parse_fails("FROM base\nENV 9X=1\n", "ENV takes a KEY");
    parse_fails("FROM base\nENV X=\"unterminated\n", "double quote is not closed");
    parse_fails("FROM base\nUSER a:b:c\n", "USER takes USER[:GROUP]");
    parse_fails("FROM base\nRUN [\"a\", 1]\n", "strings only");
    parse_fails("FROM base\nRUN [\"a\",\n", "not one");
    parse_fails("# escape=`\nFROM base\n", "escape directive");
    parse_fails("FROM base\nENV X=${Y:?err}\n", "only ${VAR:-word}");
    /* a symlink in the context to a directory outside it: no way through
     * it; a symlink as the source itself is copied as a link */
    g_autofree char *out = g_build_filename(ctxdir, "out", NULL);
    g_autofree char *self = g_build_filename(ctxdir, "self", NULL);
    ck_assert_int_eq(symlink("/etc", out), 0);
    ck_assert_int_eq(symlink("hello.txt", self), 0);
    parse_fails("FROM base\nCOPY out/passwd /x\n", "leads out of the build context");
    g_autoptr(BuildSpec) ok = parse_ok("FROM base\nCOPY out self /x/\n", NULL);
}
END_TEST

START_TEST(test_names_and_steps)
{
    g_autoptr(GError) err = NULL;
    ck_assert(build_template_name_valid("my-env.v2_0", NULL));
    ck_assert(build_template_name_valid("0abc", NULL));
    const char *bad[] = { "", "../x", "a/b", ".hidden", "-x", "Upper", "a b", NULL };
    for (int i = 0; bad[i]; i++) {
        ck_assert_msg(!build_template_name_valid(bad[i], &err), "accepted '%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(err->message, "is not valid"));
        g_clear_error(&err);
    }
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert(!build_template_name_valid(longname, NULL));
    longname[64] = '\0';
    ck_assert(build_template_name_valid(longname, NULL));

    /* steps made through the API are checked the same way, and named by index */
    g_autoptr(BuildSpec) spec = build_spec_new("base", NULL);
    build_spec_add(spec, BUILD_APT, (const char *[]){ "jq", "python3-yaml", "libc6=2.36-9", NULL }, 0);
    ck_assert_msg(build_spec_validate(spec, &err), "%s", err ? err->message : "");
    build_spec_add(spec, BUILD_APT, (const char *[]){ "jq; rm -rf /", NULL }, 0);
    ck_assert(!build_spec_validate(spec, &err));
    ck_assert_str_eq(err->message, "step 2 (APT-INSTALL jq; rm -rf /): 'jq; rm -rf /' is not a "
                                   "Debian package name (NAME or NAME=VERSION)");
    g_clear_error(&err);
    g_ptr_array_remove_index(spec->steps, 1);
    build_spec_add(spec, BUILD_COPY, (const char *[]){ "a", "/b", NULL }, 0);
    ck_assert(!build_spec_validate(spec, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "no build context"));
    g_clear_error(&err);
    g_ptr_array_remove_index(spec->steps, 1);
    build_spec_add(spec, BUILD_WORKDIR, (const char *[]){ "relative", NULL }, 0);
    ck_assert(!build_spec_validate(spec, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "absolute path"));
}
END_TEST

/* The key of each step hashes what came before it, so a change in one step
 * (or in one byte it copies) changes its key and every later one, and
 * nothing before it. */
START_TEST(test_keys)
{
    const char *text = "FROM base\nRUN echo one\nCOPY app /srv/app\nRUN echo three\n";
    g_autoptr(BuildSpec) a = parse_ok(text, NULL);
    g_autoptr(GError) err = NULL;
    char *k1[3], *k2[3];
    const char *prev = "parent-key";

    for (guint i = 0; i < 3; i++) {
        k1[i] = build_step_key(prev, step(a, i), ctxdir, &err);
        ck_assert_msg(k1[i], "%s", err ? err->message : "");
        ck_assert_uint_eq(strlen(k1[i]), 64);
        prev = k1[i];
    }
    /* the same inputs give the same keys; a moved line (another line number) too */
    g_autoptr(BuildSpec) b = parse_ok("\n\nFROM base\nRUN echo one\nCOPY app /srv/app\nRUN echo three\n", NULL);
    prev = "parent-key";
    for (guint i = 0; i < 3; i++) {
        k2[i] = build_step_key(prev, step(b, i), ctxdir, &err);
        ck_assert_str_eq(k1[i], k2[i]);
        prev = k2[i];
    }
    for (guint i = 0; i < 3; i++)
        g_free(k2[i]);
    /* one byte of one copied file: its step and later ones change */
    put_file("app/lib/util.py", "X = 2\n");
    prev = k1[0];
    for (guint i = 1; i < 3; i++) {
        k2[i] = build_step_key(prev, step(a, i), ctxdir, &err);
        ck_assert_str_ne(k1[i], k2[i]);
        prev = k2[i];
    }
    g_free(k2[1]);
    g_free(k2[2]);
    /* a mode change counts, a new file counts */
    put_file("app/lib/util.py", "X = 1\n");
    g_autofree char *same = build_step_key(k1[0], step(a, 1), ctxdir, &err);
    ck_assert_str_eq(same, k1[1]);
    g_autofree char *path = g_build_filename(ctxdir, "app/main.py", NULL);
    ck_assert_int_eq(g_chmod(path, 0755), 0);
    g_autofree char *moded = build_step_key(k1[0], step(a, 1), ctxdir, &err);
    ck_assert_str_ne(moded, k1[1]);
    ck_assert_int_eq(g_chmod(path, 0644), 0);
    put_file("app/new.txt", "");
    g_autofree char *added = build_step_key(k1[0], step(a, 1), ctxdir, &err);
    ck_assert_str_ne(added, k1[1]);
    /* another parent changes everything */
    g_autofree char *other = build_step_key("other-parent", step(a, 0), ctxdir, &err);
    ck_assert_str_ne(other, k1[0]);
    for (guint i = 0; i < 3; i++)
        g_free(k1[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buildspec");
    TCase *tc = tcase_create("buildspec");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, ctx_setup, ctx_teardown);
    tcase_add_test(tc, test_dockerfile);
    tcase_add_test(tc, test_exec_form_and_build_args);
    tcase_add_test(tc, test_agent_label);
    tcase_add_test(tc, test_dockerfile_errors);
    tcase_add_test(tc, test_names_and_steps);
    tcase_add_test(tc, test_keys);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
