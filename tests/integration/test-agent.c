/* test-agent.c: agent sessions against a real guest and the reference
 * runner of the base template: events in order, a tool use, interrupt,
 * reattach from a second process (the CLI), garbage lines, listing, exit
 * codes, and hibernate and wake under a session.
 *
 * One sandbox serves every test (boots are slow under TCG); the suite kills
 * it at the end. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "opencomputer.h"

#define WAIT_S 120

static oc_context *ctx;
static oc_sandbox *sb;

static void setup_all(void)
{
    itest_sandbox_open(&ctx, &sb, "test-agent", NULL, 0);
}

static void teardown_all(void)
{
    itest_sandbox_close(ctx, sb);
}

/* ---- a recorder of events ---- */

typedef struct {
    GMutex lock;
    GCond cond;
    GPtrArray *types, *lines; /* of char *, in order */
    guint replay_end;         /* events before on_replay_end; G_MAXUINT: not yet */
    gboolean ended;
    int status, exit_code;
} Rec;

static void rec_init(Rec *r)
{
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    r->types = g_ptr_array_new_with_free_func(g_free);
    r->lines = g_ptr_array_new_with_free_func(g_free);
    r->replay_end = G_MAXUINT;
    r->ended = FALSE;
}

static void rec_clear(Rec *r)
{
    g_ptr_array_unref(r->types);
    g_ptr_array_unref(r->lines);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
}

static void rec_event(const char *type, const char *json, void *user_data)
{
    Rec *r = user_data;

    g_mutex_lock(&r->lock);
    g_ptr_array_add(r->types, g_strdup(type));
    g_ptr_array_add(r->lines, g_strdup(json));
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

static void rec_replay_end(void *user_data)
{
    Rec *r = user_data;

    g_mutex_lock(&r->lock);
    r->replay_end = r->types->len;
    g_mutex_unlock(&r->lock);
}

static void rec_end(int status, int exit_code, void *user_data)
{
    Rec *r = user_data;

    g_mutex_lock(&r->lock);
    r->ended = TRUE;
    r->status = status;
    r->exit_code = exit_code;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

static oc_agent_callbacks rec_callbacks(Rec *r)
{
    return (oc_agent_callbacks){
        .version = OC_AGENT_CALLBACKS_VERSION,
        .on_event = rec_event,
        .on_replay_end = rec_replay_end,
        .on_end = rec_end,
        .user_data = r,
    };
}

/* The string member name of a JSON line ("" if none). */
static char *member(const char *json, const char *name)
{
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert_msg(json_parser_load_from_data(p, json, -1, NULL), "not JSON: %s", json);
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return g_strdup("");
    if (json_node_get_value_type(n) == G_TYPE_STRING)
        return g_strdup(json_node_get_string(n));
    return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
}

/* The index of the first event of type at or after from whose line
 * contains needle (NULL: any), waiting up to WAIT_S. */
static guint rec_wait(Rec *r, const char *type, const char *needle, guint from)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_S * G_TIME_SPAN_SECOND;

    g_mutex_lock(&r->lock);
    for (;;) {
        for (guint i = from; i < r->types->len; i++) {
            if (strcmp(r->types->pdata[i], type) == 0 &&
                (!needle || strstr(r->lines->pdata[i], needle))) {
                g_mutex_unlock(&r->lock);
                return i;
            }
        }
        from = r->types->len;
        if (r->ended || !g_cond_wait_until(&r->cond, &r->lock, deadline))
            break;
    }
    g_mutex_unlock(&r->lock);
    ck_abort_msg("no %s event%s%s came (ended: %d)", type, needle ? " with " : "",
                 needle ? needle : "", r->ended);
    return 0;
}

static const char *rec_line(Rec *r, guint i)
{
    g_mutex_lock(&r->lock);
    const char *line = r->lines->pdata[i];
    g_mutex_unlock(&r->lock);
    return line;
}

static oc_agent_session *start(Rec *r, const char *prompt)
{
    oc_agent_options o = OC_AGENT_OPTIONS_INIT;
    oc_agent_callbacks cb = rec_callbacks(r);
    oc_agent_session *s = NULL;

    o.prompt = prompt;
    OK(oc_agent_start(&s, sb, &o, &cb, &e_));
    return s;
}

static void kill_session(oc_agent_session *s)
{
    OK(oc_agent_kill(sb, oc_agent_session_id(s), 0, &e_));
    oc_agent_close(s);
}

/* ---- the tests ---- */

START_TEST(test_start_and_prompt)
{
    static Rec r;
    oc_agent_options o = OC_AGENT_OPTIONS_INIT;
    oc_agent_callbacks cb = rec_callbacks(&r);
    oc_agent_session *s = NULL;

    rec_init(&r);
    o.prompt = "hello agent";
    o.model = "test-model";
    o.max_turns = 5;
    o.config_json = "{\"allowedTools\":[\"Bash\"],\"permissionMode\":\"default\"}";
    gint64 t0 = g_get_monotonic_time();
    OK(oc_agent_start(&s, sb, &o, &cb, &e_));
    ck_assert_uint_gt(oc_agent_session_id(s), 0);
    guint ready = rec_wait(&r, "ready", NULL, 0);
    /* Measured, not asserted: python3 starting under TCG is most of it. */
    fprintf(stderr, "start to ready: %.3f s\n", (g_get_monotonic_time() - t0) / 1e6);
    guint configured = rec_wait(&r, "configured", NULL, 0);
    guint assistant = rec_wait(&r, "assistant", NULL, 0);
    guint done = rec_wait(&r, "turn_complete", NULL, 0);
    ck_assert_uint_eq(ready, 0);
    ck_assert_uint_lt(ready, configured);
    ck_assert_uint_lt(configured, assistant);
    ck_assert_uint_lt(assistant, done);
    g_autofree char *text = member(rec_line(&r, assistant), "text");
    ck_assert_str_eq(text, "You said: hello agent");
    /* The settings reached the program, with the extra ones. */
    const char *conf = rec_line(&r, configured);
    ck_assert_ptr_nonnull(strstr(conf, "\"model\":\"test-model\""));
    ck_assert_ptr_nonnull(strstr(conf, "\"maxTurns\":5"));
    ck_assert_ptr_nonnull(strstr(conf, "\"allowedTools\":[\"Bash\"]"));
    guint result = rec_wait(&r, "result", NULL, 0);
    ck_assert_uint_lt(result, done);
    kill_session(s);
    rec_clear(&r);
}
END_TEST

START_TEST(test_tool_use)
{
    static Rec r;
    rec_init(&r);
    oc_agent_session *s = start(&r, "list the root please\nrun: ls /");

    guint tool = rec_wait(&r, "tool_use_summary", NULL, 0);
    guint result = rec_wait(&r, "result", NULL, tool);
    rec_wait(&r, "turn_complete", NULL, result);
    const char *line = rec_line(&r, tool);
    g_autofree char *out = member(line, "output");
    g_autofree char *code = member(line, "exit_code");
    g_autofree char *cmd = member(line, "command");
    ck_assert_str_eq(cmd, "ls /");
    ck_assert_str_eq(code, "0");
    ck_assert_msg(strstr(out, "bin\n") && strstr(out, "etc\n"), "ls / said: %s", out);
    kill_session(s);
    rec_clear(&r);
}
END_TEST

START_TEST(test_interrupt)
{
    static Rec r;
    rec_init(&r);
    oc_agent_session *s = start(&r, "sleep: 30");

    guint assistant = rec_wait(&r, "assistant", NULL, 0);
    gint64 t0 = g_get_monotonic_time();
    OK(oc_agent_interrupt(s, &e_));
    guint stopped = rec_wait(&r, "interrupted", NULL, assistant);
    double secs = (g_get_monotonic_time() - t0) / 1e6;
    fprintf(stderr, "interrupt answered in %.3f s\n", secs);
    ck_assert_msg(secs < 10, "interrupted came %.1f s after the interrupt", secs);
    guint result = rec_wait(&r, "result", NULL, stopped);
    g_autofree char *subtype = member(rec_line(&r, result), "subtype");
    ck_assert_str_eq(subtype, "interrupted");
    rec_wait(&r, "turn_complete", NULL, result);
    /* The session takes prompts again. */
    t0 = g_get_monotonic_time();
    OK(oc_agent_send_prompt(s, "still there?", &e_));
    rec_wait(&r, "turn_complete", NULL, rec_wait(&r, "assistant", "still there?", result));
    fprintf(stderr, "prompt to turn_complete: %.3f s\n", (g_get_monotonic_time() - t0) / 1e6);
    kill_session(s);
    rec_clear(&r);
}
END_TEST

/* Waits until path holds needle; returns its text. */
static char *wait_file(const char *path, const char *needle)
{
    for (int i = 0; i < WAIT_S * 10; i++) {
        char *text = NULL;
        if (g_file_get_contents(path, &text, NULL, NULL) && strstr(text, needle))
            return text;
        g_free(text);
        g_usleep(100 * 1000);
    }
    ck_abort_msg("%s never held %s", path, needle);
    return NULL;
}

START_TEST(test_reattach_from_another_process)
{
    static Rec r;
    rec_init(&r);
    oc_agent_session *s = start(&r, "first turn");
    rec_wait(&r, "turn_complete", NULL, 0);
    OK(oc_agent_send_prompt(s, "second turn\ngarbage: raw text in the history", &e_));
    guint done = rec_wait(&r, "turn_complete", NULL, rec_wait(&r, "assistant", "second", 0));
    uint32_t id = oc_agent_session_id(s);
    oc_agent_close(s); /* detach: the agent goes on */

    /* `oc agent attach` in a child process prints the history, then
     * follows. */
    const char *oc = g_getenv("OC");
    ck_assert_msg(oc, "OC (the path of the oc CLI) is not set; run through meson test");
    g_autofree char *dir = g_dir_make_tmp("oc-agent-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "events", NULL);
    g_autofree char *sid = g_strdup_printf("%u", id);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *f = freopen(path, "w", stdout);
        if (!f)
            _exit(127);
        execl(oc, "oc", "agent", "attach", oc_sandbox_id(sb), sid, (char *)NULL);
        _exit(127);
    }
    g_autofree char *history = wait_file(path, "\"type\":\"turn_complete\",\"turn\":2");
    /* The whole history, in order: every event the first handle saw. */
    g_auto(GStrv) got = g_strsplit(history, "\n", -1);
    ck_assert_uint_ge(g_strv_length(got), done + 1);
    for (guint i = 0; i <= done; i++)
        ck_assert_str_eq(got[i], rec_line(&r, i));

    /* A prompt from here: the child prints its events live. */
    oc_agent_session *s2 = NULL;
    OK(oc_agent_attach(&s2, sb, id, NULL, &e_));
    OK(oc_agent_send_prompt(s2, "third turn, live", &e_));
    oc_agent_close(s2);
    g_autofree char *live = wait_file(path, "\"type\":\"turn_complete\",\"turn\":3");
    ck_assert_ptr_nonnull(strstr(live, "You said: third turn, live"));

    /* Ctrl-C detaches it; the agent goes on. */
    int wstatus = 0;
    kill(pid, SIGINT);
    ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
    ck_assert_msg(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "oc agent attach: %#x",
                  wstatus);
    OK(oc_agent_kill(sb, id, 0, &e_));
    g_unlink(path);
    g_rmdir(dir);
    rec_clear(&r);
}
END_TEST

START_TEST(test_garbage_line)
{
    static Rec r;
    rec_init(&r);
    oc_agent_session *s = start(&r, "garbage: this is { not json");

    guint err = rec_wait(&r, "error", NULL, 0);
    const char *line = rec_line(&r, err);
    g_autofree char *raw = member(line, "raw");
    g_autofree char *source = member(line, "source");
    ck_assert_str_eq(raw, "this is { not json");
    ck_assert_str_eq(source, "host");
    guint done = rec_wait(&r, "turn_complete", NULL, err);
    /* The session goes on. */
    OK(oc_agent_send_prompt(s, "after the garbage", &e_));
    rec_wait(&r, "assistant", "You said: after the garbage", done);
    kill_session(s);
    rec_clear(&r);
}
END_TEST

START_TEST(test_exit_and_list)
{
    static Rec r;
    uint32_t plain = 0;
    oc_exec_session_list *list = NULL;
    rec_init(&r);
    oc_agent_session *s = start(&r, "exit: 7");

    /* Only agent sessions are listed. */
    OK(oc_exec_start(&plain, sb, "sleep 600", NULL, &e_));
    OK(oc_agent_list(&list, sb, 0, &e_));
    gboolean mine = FALSE;
    for (size_t i = 0; i < oc_exec_session_list_count(list); i++) {
        const oc_exec_session_info *si = oc_exec_session_list_at(list, i);
        ck_assert_uint_ne(oc_exec_session_info_id(si), plain);
        ck_assert(g_str_has_prefix(oc_exec_session_info_command(si), OC_AGENT_COMMAND_PREFIX));
        mine |= oc_exec_session_info_id(si) == oc_agent_session_id(s);
    }
    ck_assert(mine);
    oc_exec_session_list_free(list);
    OK(oc_exec_kill(sb, plain, 0, &e_));

    int code = -1;
    OK(oc_agent_wait(s, WAIT_S * 1000, &code, &e_));
    ck_assert_int_eq(code, 7);
    ck_assert(r.ended);
    ck_assert_int_eq(r.status, OC_OK);
    ck_assert_int_eq(r.exit_code, 7);
    oc_agent_close(s);
    rec_clear(&r);
}
END_TEST

/* Detach stops following without freeing: the handle ends cancelled, the
 * program goes on, and an attach finds it with its history. */
START_TEST(test_detach)
{
    static Rec r, again;
    oc_agent_session *s, *s2 = NULL;
    int code = -1;

    rec_init(&r);
    s = start(&r, "before the detach");
    rec_wait(&r, "turn_complete", NULL, 0);
    oc_agent_detach(s);
    FAILS(OC_ECANCELLED, oc_agent_wait(s, WAIT_S * 1000, &code, &err), "");
    g_mutex_lock(&r.lock);
    ck_assert(r.ended);
    ck_assert_int_eq(r.status, OC_ECANCELLED);
    g_mutex_unlock(&r.lock);
    FAILS(OC_ESTATE, oc_agent_send_prompt(s, "after", &err), "");

    oc_exec_session_list *list = NULL;
    gboolean running = FALSE;
    OK(oc_agent_list(&list, sb, 0, &e_));
    for (size_t i = 0; i < oc_exec_session_list_count(list); i++) {
        const oc_exec_session_info *si = oc_exec_session_list_at(list, i);
        if (oc_exec_session_info_id(si) == oc_agent_session_id(s))
            running = oc_exec_session_info_running(si);
    }
    oc_exec_session_list_free(list);
    ck_assert_msg(running, "the program did not go on after the detach");

    rec_init(&again);
    oc_agent_callbacks cb = rec_callbacks(&again);
    OK(oc_agent_attach(&s2, sb, oc_agent_session_id(s), &cb, &e_));
    rec_wait(&again, "assistant", "before the detach", 0); /* the history */
    oc_agent_close(s);
    kill_session(s2);
    rec_clear(&r);
    rec_clear(&again);
}
END_TEST

START_TEST(test_bad_arguments)
{
    oc_agent_options o = OC_AGENT_OPTIONS_INIT;
    oc_agent_session *s = NULL;

    o.program = "oc-agent-runner";
    FAILS(OC_EINVAL, oc_agent_start(&s, sb, &o, NULL, &err), "absolute path");
    o.program = NULL;
    o.config_json = "[1]";
    FAILS(OC_EINVAL, oc_agent_start(&s, sb, &o, NULL, &err), "not an object");
    o.config_json = "{nope";
    FAILS(OC_EINVAL, oc_agent_start(&s, sb, &o, NULL, &err), "not JSON");
    FAILS(OC_ENOTFOUND, oc_agent_attach(&s, sb, 999999, NULL, &err), "999999");
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_hibernate_and_wake)
{
    static Rec a, b;
    int kind = 0;
    rec_init(&a);
    rec_init(&b);
    oc_agent_session *s = start(&a, "before the hibernate");
    guint done = rec_wait(&a, "turn_complete", NULL, 0);
    uint32_t id = oc_agent_session_id(s);
    oc_agent_close(s);
    OK(oc_sandbox_hibernate(sb, 0, &e_));
    ck_assert_int_eq(itest_state(sb), OC_STATE_HIBERNATED);
    OK(oc_sandbox_wake(sb, NULL, &kind, &e_));

    oc_agent_callbacks cb = rec_callbacks(&b);
    OK(oc_agent_attach(&s, sb, id, &cb, &e_));
    rec_wait(&b, "turn_complete", NULL, 0);
    /* The history survived, whole and in order. */
    g_mutex_lock(&b.lock);
    ck_assert_uint_eq(b.types->len, done + 1);
    for (guint i = 0; i <= done; i++)
        ck_assert_str_eq(b.lines->pdata[i], a.lines->pdata[i]);
    g_mutex_unlock(&b.lock);
    OK(oc_agent_send_prompt(s, "after the wake", &e_));
    rec_wait(&b, "assistant", "You said: after the wake", done);
    g_mutex_lock(&b.lock);
    guint replay_end = b.replay_end;
    g_mutex_unlock(&b.lock);
    ck_assert_uint_eq(replay_end, done + 1);
    kill_session(s);
    rec_clear(&a);
    rec_clear(&b);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_start_and_prompt,
        test_tool_use,
        test_interrupt,
        test_reattach_from_another_process,
        test_garbage_line,
        test_exit_and_list,
        test_detach,
        test_bad_arguments,
        test_hibernate_and_wake,
    };

    return itest_main("agent", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
