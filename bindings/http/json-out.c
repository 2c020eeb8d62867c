/* json-out.c: response bodies in the shapes @opencomputer/sdk reads. */
#include "json-out.h"
#include "server.h"

static void set_string_take(JsonObject *o, const char *name, char *value)
{
    json_object_set_string_member(o, name, value ? value : "");
    g_free(value);
}

JsonNode *http_json_sandbox(const oc_sandbox_info *info)
{
    JsonObject *o = json_object_new(), *meta = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    gint64 deadline = oc_sandbox_info_idle_deadline(info);

    json_object_set_string_member(o, "sandboxID", oc_sandbox_info_id(info));
    json_object_set_string_member(o, "status",
                                  oc_sandbox_state_name(oc_sandbox_info_state(info)));
    json_object_set_string_member(o, "templateID", oc_sandbox_info_template(info));
    json_object_set_int_member(o, "cpuCount", oc_sandbox_info_cpu_count(info));
    json_object_set_int_member(o, "memoryMB", oc_sandbox_info_memory_mb(info));
    json_object_set_int_member(o, "timeout", oc_sandbox_info_timeout(info));
    set_string_take(o, "startedAt", http_iso_time(oc_sandbox_info_created(info)));
    if (deadline > 0)
        set_string_take(o, "endAt", http_iso_time(deadline));
    else
        json_object_set_null_member(o, "endAt");
    json_object_set_string_member(o, "accelerator", oc_sandbox_info_accelerator(info));
    json_object_set_string_member(o, "origin", oc_sandbox_info_origin(info));
    for (size_t i = 0; i < oc_sandbox_info_metadata_count(info); i++) {
        const char *value = NULL;
        const char *key = oc_sandbox_info_metadata_at(info, i, &value);

        json_object_set_string_member(meta, key, value ? value : "");
    }
    json_object_set_object_member(o, "metadata", meta);
    json_object_set_object_member(o, "network", http_json_network(info));
    /* the SDK routes everything through this server: no direct worker URL */
    json_object_set_string_member(o, "connectURL", "");
    json_object_set_string_member(o, "token", "");
    json_node_take_object(n, o);
    return n;
}

JsonNode *http_json_checkpoint(const oc_checkpoint *cp)
{
    JsonObject *o = json_object_new(), *conf = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "id", oc_checkpoint_id(cp));
    json_object_set_string_member(o, "sandboxId", oc_checkpoint_sandbox_id(cp));
    json_object_set_string_member(o, "orgId", "");
    json_object_set_string_member(o, "name", oc_checkpoint_name(cp));
    json_object_set_string_member(o, "status", "ready");
    json_object_set_int_member(o, "sizeBytes", (gint64)oc_checkpoint_size_bytes(cp));
    set_string_take(o, "createdAt", http_iso_time(oc_checkpoint_created_at(cp)));
    json_object_set_string_member(conf, "templateID", oc_checkpoint_template(cp));
    json_object_set_int_member(conf, "cpuCount", oc_checkpoint_cpu_count(cp));
    json_object_set_int_member(conf, "memoryMB", oc_checkpoint_memory_mb(cp));
    json_object_set_object_member(o, "sandboxConfig", conf);
    json_node_take_object(n, o);
    return n;
}

JsonObject *http_json_exec_result(const oc_exec_result *res)
{
    JsonObject *o = json_object_new();
    size_t len = 0;
    const char *p;

    json_object_set_int_member(o, "exitCode", oc_exec_result_exit_code(res));
    p = oc_exec_result_stdout(res, &len);
    set_string_take(o, "stdout", http_utf8(p, len));
    p = oc_exec_result_stderr(res, &len);
    set_string_take(o, "stderr", http_utf8(p, len));
    if (oc_exec_result_timed_out(res))
        json_object_set_boolean_member(o, "timedOut", TRUE);
    if (oc_exec_result_stdout_truncated(res) || oc_exec_result_stderr_truncated(res))
        json_object_set_boolean_member(o, "truncated", TRUE);
    return o;
}

char *http_json_error_text(const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}
