/* cmd-sessions.c: oc exec list ID, oc exec kill ID SESSION (background
 * sessions; oc exec --detach starts them), and the listing of oc agent
 * list. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* One session in the JSON of a list: field names follow the OpenComputer
 * SDK's exec.list(), or for agent sessions its agent.list(). */
static JsonObject *session_json(const oc_exec_session_info *si, const char *started,
                                const char *agents_of)
{
    JsonObject *o = json_object_new();
    gboolean running = oc_exec_session_info_running(si);

    if (agents_of) {
        g_autofree char *id = g_strdup_printf("%u", oc_exec_session_info_id(si));
        json_object_set_string_member(o, "sessionID", id);
        json_object_set_string_member(o, "sandboxID", agents_of);
    } else {
        json_object_set_int_member(o, "sessionId", oc_exec_session_info_id(si));
        json_object_set_int_member(o, "pid", oc_exec_session_info_pid(si));
        if (running)
            json_object_set_null_member(o, "exitCode");
        else
            json_object_set_int_member(o, "exitCode", oc_exec_session_info_exit_code(si));
    }
    json_object_set_string_member(o, "command", oc_exec_session_info_command(si));
    json_object_set_boolean_member(o, "running", running);
    json_object_set_string_member(o, "startedAt", started);
    return o;
}

int cli_list_sessions(Cli *cli, int argc, char **argv, gboolean agents)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        agents ? "ID - list the sandbox's agent sessions" : "ID - list the sandbox's exec sessions");
    oc_exec_session_list *list = NULL;
    oc_error *err = NULL;
    oc_sandbox *sb;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_one_id(cli, oc, argc, argv, &rc);
    if (!sb)
        return rc;
    rc = agents ? oc_agent_list(&list, sb, 0, &err) : oc_exec_list(&list, sb, 0, &err);
    g_autofree char *sandbox_id = g_strdup(oc_sandbox_id(sb));
    oc_sandbox_unref(sb);
    if (rc < 0)
        return cli_fail(err);
    JsonArray *a = cli->json ? json_array_new() : NULL;
    if (!a)
        printf("%-8s %-8s %-10s %-20s %s\n", "SESSION", "PID", "STATE", "STARTED", "COMMAND");
    for (size_t i = 0; i < oc_exec_session_list_count(list); i++) {
        const oc_exec_session_info *si = oc_exec_session_list_at(list, i);
        g_autofree char *started = cli_iso_time(oc_exec_session_info_started_at_ms(si) / 1000);
        if (a) {
            json_array_add_object_element(a, session_json(si, started,
                                                          agents ? sandbox_id : NULL));
            continue;
        }
        g_autofree char *state = oc_exec_session_info_running(si)
                                     ? g_strdup("running")
                                     : g_strdup_printf("exit %d", oc_exec_session_info_exit_code(si));
        const char *command = oc_exec_session_info_command(si);
        /* An agent's: the program and its arguments. */
        if (agents)
            command += strlen(OC_AGENT_COMMAND_PREFIX);
        printf("%-8u %-8u %-10s %-20s %s\n", oc_exec_session_info_id(si),
               oc_exec_session_info_pid(si), state, started, command);
    }
    if (a) {
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);
        json_node_take_array(node, a);
        cli_print_json(node);
    }
    oc_exec_session_list_free(list);
    return 0;
}

int cmd_exec_list(Cli *cli, int argc, char **argv)
{
    return cli_list_sessions(cli, argc, argv, FALSE);
}

int cmd_exec_kill(Cli *cli, int argc, char **argv)
{
    int sig = 0;
    GOptionEntry entries[] = {
        { "signal", 's', 0, G_OPTION_ARG_INT, &sig, "Signal number (default 9, SIGKILL)", "N" },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("ID SESSION - signal an exec session");
    oc_error *err = NULL;
    oc_sandbox *sb;
    uint32_t session;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_id_session(cli, oc, argc, argv, &session, &rc);
    if (!sb)
        return rc;
    rc = oc_exec_kill(sb, session, sig, &err);
    oc_sandbox_unref(sb);
    return rc < 0 ? cli_fail(err) : 0;
}
