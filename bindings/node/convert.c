/* convert.c: JS values to plain C (copies, so that a job owns its inputs)
 * and library results to JS values.  Functions that can fail return a
 * napi_status; a type error is thrown here and napi_pending_exception
 * returned. */
#include "convert.h"
#include "network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tells our externals from anything else a caller might pass. */
static const napi_type_tag sandbox_tag = { 0x6f63736e64626f78ULL, 0x4e6f646548616e64ULL };

/* ---- JS → C ---- */

napi_status throw_type(napi_env env, const char *message)
{
    napi_throw_type_error(env, NULL, message);
    return napi_pending_exception;
}

bool is_nullish(napi_env env, napi_value v)
{
    napi_valuetype t;
    return !v || napi_typeof(env, v, &t) != napi_ok || t == napi_undefined || t == napi_null;
}

napi_status get_string(napi_env env, napi_value v, char **out)
{
    size_t len;
    napi_status s = napi_get_value_string_utf8(env, v, NULL, 0, &len);

    if (s == napi_string_expected)
        return throw_type(env, "expected a string");
    if (s != napi_ok)
        return s;
    *out = malloc(len + 1);
    if (!*out)
        return napi_generic_failure;
    return napi_get_value_string_utf8(env, v, *out, len + 1, &len);
}

napi_status get_opt_string(napi_env env, napi_value v, char **out)
{
    *out = NULL;
    return is_nullish(env, v) ? napi_ok : get_string(env, v, out);
}

/* An array of strings, or an object of string values as "KEY=VALUE", into
 * a NULL-terminated vector; NULL for null or undefined. */
napi_status get_strv(napi_env env, napi_value v, bool pairs, char ***out)
{
    napi_value keys = v, item;
    uint32_t n, i;
    napi_status s;
    char **vec;

    *out = NULL;
    if (is_nullish(env, v))
        return napi_ok;
    if (pairs && (s = napi_get_property_names(env, v, &keys)) != napi_ok)
        return s == napi_object_expected ? throw_type(env, "expected an object") : s;
    if ((s = napi_get_array_length(env, keys, &n)) != napi_ok)
        return s == napi_array_expected ? throw_type(env, "expected an array of strings") : s;
    vec = calloc(n + 1, sizeof(char *));
    if (!vec)
        return napi_generic_failure;
    *out = vec;
    for (i = 0; i < n; i++) {
        char *key = NULL, *val = NULL;

        if ((s = napi_get_element(env, keys, i, &item)) != napi_ok ||
            (s = get_string(env, item, &key)) != napi_ok)
            return s;
        if (!pairs) {
            vec[i] = key;
            continue;
        }
        if ((s = napi_get_property(env, v, item, &item)) == napi_ok) {
            napi_value str;
            /* numbers and booleans are fine as values too */
            if ((s = napi_coerce_to_string(env, item, &str)) == napi_ok)
                s = get_string(env, str, &val);
        }
        if (s != napi_ok) {
            free(key);
            return s;
        }
        size_t kl = strlen(key), vl = strlen(val);
        vec[i] = malloc(kl + vl + 2);
        if (vec[i]) {
            memcpy(vec[i], key, kl);
            vec[i][kl] = '=';
            memcpy(vec[i] + kl + 1, val, vl + 1);
        }
        free(key);
        free(val);
        if (!vec[i])
            return napi_generic_failure;
    }
    return napi_ok;
}

/* A number, or no number for null and undefined. */
napi_status get_opt_int(napi_env env, napi_value v, int64_t *out, bool *has)
{
    napi_status s;

    *has = false;
    if (is_nullish(env, v))
        return napi_ok;
    s = napi_get_value_int64(env, v, out);
    if (s == napi_number_expected)
        return throw_type(env, "expected a number");
    *has = s == napi_ok;
    return s;
}

napi_status get_string_fields(napi_env env, napi_value obj, const string_field *f, size_t n)
{
    napi_value v;
    napi_status s = napi_ok;

    for (size_t i = 0; s == napi_ok && i < n; i++)
        if ((s = get_field(env, obj, f[i].key, &v)) == napi_ok)
            s = get_opt_string(env, v, f[i].dest);
    return s;
}

napi_status get_int_fields(napi_env env, napi_value obj, const int_field *f, size_t n)
{
    napi_value v;
    napi_status s = napi_ok;

    for (size_t i = 0; s == napi_ok && i < n; i++)
        if ((s = get_field(env, obj, f[i].key, &v)) == napi_ok)
            s = get_opt_int(env, v, f[i].dest, f[i].has);
    return s;
}

napi_status get_opt_bool(napi_env env, napi_value v, bool *out)
{
    napi_status s;

    *out = false;
    if (is_nullish(env, v))
        return napi_ok;
    s = napi_get_value_bool(env, v, out);
    if (s == napi_boolean_expected)
        return throw_type(env, "expected a boolean");
    return s;
}

/* A Buffer, TypedArray or string, copied. */
napi_status get_bytes(napi_env env, napi_value v, void **data, size_t *len)
{
    napi_valuetype t;
    bool is;
    void *src = NULL;
    napi_status s;

    if ((s = napi_typeof(env, v, &t)) != napi_ok)
        return s;
    if (t == napi_string) {
        char *str;
        if ((s = get_string(env, v, &str)) != napi_ok)
            return s;
        *data = str;
        *len = strlen(str);
        return napi_ok;
    }
    if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
        napi_typedarray_type type;
        size_t count, offset;
        napi_value ab;
        if ((s = napi_get_typedarray_info(env, v, &type, &count, &src, &ab, &offset)) != napi_ok)
            return s;
        /* count is in elements; only byte arrays make sense here */
        if (type != napi_uint8_array && type != napi_int8_array &&
            type != napi_uint8_clamped_array)
            return throw_type(env, "expected a string, Buffer or Uint8Array");
        *len = count;
    } else {
        return throw_type(env, "expected a string, Buffer or Uint8Array");
    }
    *data = malloc(*len ? *len : 1);
    if (!*data)
        return napi_generic_failure;
    if (*len)
        memcpy(*data, src, *len);
    return napi_ok;
}

napi_status get_tagged(napi_env env, napi_value v, const napi_type_tag *tag, const char *what,
                       void **out)
{
    bool ok = false;
    char msg[64];

    if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok) {
        snprintf(msg, sizeof msg, "expected %s", what);
        return throw_type(env, msg);
    }
    return napi_get_value_external(env, v, out);
}

napi_status get_sandbox(napi_env env, napi_value v, oc_sandbox **out)
{
    void *p;
    napi_status s = get_tagged(env, v, &sandbox_tag, "a sandbox handle", &p);

    if (s == napi_ok)
        *out = oc_sandbox_ref(p);
    return s;
}

/* ---- C → JS ---- */

static napi_status str_or_null(napi_env env, const char *s, napi_value *out)
{
    return s ? napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, out) : napi_get_null(env, out);
}

napi_status set_value(napi_env env, napi_value obj, const char *key, napi_value v)
{
    return napi_set_named_property(env, obj, key, v);
}

napi_status set_str(napi_env env, napi_value obj, const char *key, const char *s)
{
    napi_value v;
    napi_status st = str_or_null(env, s, &v);
    return st == napi_ok ? set_value(env, obj, key, v) : st;
}

napi_status set_num(napi_env env, napi_value obj, const char *key, double n)
{
    napi_value v;
    napi_status st = napi_create_double(env, n, &v);
    return st == napi_ok ? set_value(env, obj, key, v) : st;
}

napi_status set_bool(napi_env env, napi_value obj, const char *key, bool b)
{
    napi_value v;
    napi_status st = napi_get_boolean(env, b, &v);
    return st == napi_ok ? set_value(env, obj, key, v) : st;
}

static void sandbox_finalize(napi_env env, void *data, void *hint)
{
    oc_sandbox_unref(data);
}

napi_status tagged_value(napi_env env, void *data, napi_finalize finalize,
                         const napi_type_tag *tag, napi_value *out)
{
    napi_status s = napi_create_external(env, data, finalize, NULL, out);

    if (s != napi_ok) {
        finalize(env, data, NULL);
        return s;
    }
    /* if tagging fails, the external still finalizes data when collected */
    return napi_type_tag_object(env, *out, tag);
}

napi_status sandbox_value(napi_env env, oc_sandbox *sb, napi_value *out)
{
    return tagged_value(env, sb, sandbox_finalize, &sandbox_tag, out);
}

typedef size_t (*kv_count_fn)(const oc_sandbox_info *);
typedef const char *(*kv_at_fn)(const oc_sandbox_info *, size_t, const char **);

static napi_status set_kv(napi_env env, napi_value obj, const char *key,
                          const oc_sandbox_info *info, kv_count_fn count, kv_at_fn at)
{
    napi_value map;
    napi_status s = napi_create_object(env, &map);

    for (size_t i = 0; s == napi_ok && i < count(info); i++) {
        const char *value = NULL;
        const char *k = at(info, i, &value);
        s = set_str(env, map, k, value);
    }
    return s == napi_ok ? set_value(env, obj, key, map) : s;
}

/* Plain fields; index.mjs turns times into Dates. */
napi_status info_value(napi_env env, const oc_sandbox_info *info, napi_value *out)
{
    int wake = oc_sandbox_info_last_wake(info);
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_str(env, *out, "sandboxId", oc_sandbox_info_id(info))) != napi_ok ||
        (s = set_str(env, *out, "status",
                     oc_sandbox_state_name(oc_sandbox_info_state(info)))) != napi_ok ||
        (s = set_str(env, *out, "templateId", oc_sandbox_info_template(info))) != napi_ok ||
        (s = set_num(env, *out, "created", (double)oc_sandbox_info_created(info))) != napi_ok ||
        (s = set_num(env, *out, "cpuCount", oc_sandbox_info_cpu_count(info))) != napi_ok ||
        (s = set_num(env, *out, "memoryMB", oc_sandbox_info_memory_mb(info))) != napi_ok ||
        (s = set_num(env, *out, "timeout", oc_sandbox_info_timeout(info))) != napi_ok ||
        (s = set_str(env, *out, "accelerator", oc_sandbox_info_accelerator(info))) != napi_ok ||
        (s = set_str(env, *out, "lastWake", wake ? oc_wake_kind_name(wake) : NULL)) != napi_ok ||
        (s = set_num(env, *out, "idleDeadline",
                     (double)oc_sandbox_info_idle_deadline(info))) != napi_ok ||
        (s = set_str(env, *out, "origin", oc_sandbox_info_origin(info))) != napi_ok ||
        (s = set_str(env, *out, "checkpoint", oc_sandbox_info_checkpoint(info))) != napi_ok ||
        (s = set_str(env, *out, "reason", oc_sandbox_info_reason(info))) != napi_ok ||
        (s = set_kv(env, *out, "metadata", info, oc_sandbox_info_metadata_count,
                    oc_sandbox_info_metadata_at)) != napi_ok ||
        (s = set_network_value(env, *out, info)) != napi_ok)
        return s;
    return set_kv(env, *out, "envs", info, oc_sandbox_info_env_count, oc_sandbox_info_env_at);
}

/* An Array of item(list, 0..n-1). */
napi_status array_value(napi_env env, const void *list, size_t n, item_fn item,
                               napi_value *out)
{
    napi_status s = napi_create_array_with_length(env, n, out);

    for (size_t i = 0; s == napi_ok && i < n; i++) {
        napi_value v;
        if ((s = item(env, list, i, &v)) == napi_ok)
            s = napi_set_element(env, *out, (uint32_t)i, v);
    }
    return s;
}

static const char *const file_types[] = { "other", "file", "dir", "symlink", "other" };

napi_status file_value(napi_env env, const oc_file_info *fi, napi_value *out)
{
    int type = oc_file_info_type(fi);
    napi_status s;

    if (type < 0 || type > OC_FILE_TYPE_OTHER)
        type = 0;
    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_str(env, *out, "name", oc_file_info_name(fi))) != napi_ok ||
        (s = set_str(env, *out, "type", file_types[type])) != napi_ok ||
        (s = set_num(env, *out, "size", (double)oc_file_info_size(fi))) != napi_ok ||
        (s = set_num(env, *out, "mode", oc_file_info_mode(fi))) != napi_ok ||
        (s = set_num(env, *out, "mtimeMs", oc_file_info_mtime_ns(fi) / 1e6)) != napi_ok)
        return s;
    return set_str(env, *out, "linkTarget", oc_file_info_link_target(fi));
}

/* Plain fields; index.mjs shapes them. */
napi_status session_value(napi_env env, const oc_exec_session_info *si, napi_value *out)
{
    bool running = oc_exec_session_info_running(si);
    napi_value code;
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_num(env, *out, "sessionId", oc_exec_session_info_id(si))) != napi_ok ||
        (s = set_str(env, *out, "command", oc_exec_session_info_command(si))) != napi_ok ||
        (s = set_bool(env, *out, "running", running)) != napi_ok ||
        (s = set_num(env, *out, "pid", oc_exec_session_info_pid(si))) != napi_ok ||
        (s = set_num(env, *out, "signal", oc_exec_session_info_signal(si))) != napi_ok ||
        (s = set_num(env, *out, "startedAtMs",
                     (double)oc_exec_session_info_started_at_ms(si))) != napi_ok)
        return s;
    s = running ? napi_get_null(env, &code)
                : napi_create_int32(env, oc_exec_session_info_exit_code(si), &code);
    return s == napi_ok ? set_value(env, *out, "exitCode", code) : s;
}

/* Plain fields; index.mjs turns the time into a Date. */
napi_status checkpoint_value(napi_env env, const oc_checkpoint *cp, napi_value *out)
{
    napi_status s;

    if ((s = napi_create_object(env, out)) != napi_ok ||
        (s = set_str(env, *out, "id", oc_checkpoint_id(cp))) != napi_ok ||
        (s = set_str(env, *out, "name", oc_checkpoint_name(cp))) != napi_ok ||
        (s = set_str(env, *out, "sandboxId", oc_checkpoint_sandbox_id(cp))) != napi_ok ||
        (s = set_str(env, *out, "template", oc_checkpoint_template(cp))) != napi_ok ||
        (s = set_num(env, *out, "created", (double)oc_checkpoint_created_at(cp))) != napi_ok ||
        (s = set_num(env, *out, "sizeBytes", (double)oc_checkpoint_size_bytes(cp))) != napi_ok ||
        (s = set_num(env, *out, "cpuCount", oc_checkpoint_cpu_count(cp))) != napi_ok)
        return s;
    return set_num(env, *out, "memoryMB", oc_checkpoint_memory_mb(cp));
}

/* ---- arguments ---- */

void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

napi_status get_field(napi_env env, napi_value obj, const char *key, napi_value *out)
{
    if (is_nullish(env, obj))
        return napi_get_undefined(env, out);
    return napi_get_named_property(env, obj, key, out);
}

napi_status get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, void **data)
{
    size_t argc = n;
    napi_status s = napi_get_cb_info(env, info, &argc, argv, NULL, data);

    for (size_t i = argc; s == napi_ok && i < n; i++)
        s = napi_get_undefined(env, &argv[i]);
    return s;
}

