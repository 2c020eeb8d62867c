/* convert.h: JS values to plain C and back, for oc_native.c.
 *
 * Everything returns a napi_status; on a type error the function has thrown
 * a TypeError and returns napi_pending_exception. */
#ifndef OC_NODE_CONVERT_H
#define OC_NODE_CONVERT_H

#include <node_api.h>
#include <opencomputer.h>

#include <stdbool.h>

/* ---- arguments ---- */

/* Fetches up to n arguments; the missing ones are undefined. */
napi_status get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, void **data);
/* obj[key], or undefined when obj is null or undefined. */
napi_status get_field(napi_env env, napi_value obj, const char *key, napi_value *out);
bool is_nullish(napi_env env, napi_value v);
napi_status throw_type(napi_env env, const char *message);

/* ---- JS → C: each *out is a malloc'ed copy the caller frees ---- */

napi_status get_string(napi_env env, napi_value v, char **out);
/* NULL for null or undefined */
napi_status get_opt_string(napi_env env, napi_value v, char **out);
/* An array of strings (pairs false) or an object as "KEY=VALUE" (pairs
 * true) into a NULL-terminated vector (free with strv_free()); NULL for null
 * or undefined. */
napi_status get_strv(napi_env env, napi_value v, bool pairs, char ***out);
void strv_free(char **v);
/* *has is false for null or undefined. */
napi_status get_opt_int(napi_env env, napi_value v, int64_t *out, bool *has);
/* *out is false for null or undefined. */
napi_status get_opt_bool(napi_env env, napi_value v, bool *out);
/* Fields of an options object (nullish: none), each as get_opt_string()
 * or get_opt_int() takes it. */
typedef struct {
    const char *key;
    char **dest;
} string_field;
typedef struct {
    const char *key;
    int64_t *dest;
    bool *has;
} int_field;
napi_status get_string_fields(napi_env env, napi_value obj, const string_field *f, size_t n);
napi_status get_int_fields(napi_env env, napi_value obj, const int_field *f, size_t n);
/* A string (UTF-8), Buffer or Uint8Array. */
napi_status get_bytes(napi_env env, napi_value v, void **data, size_t *len);
/* A new reference on the sandbox of a handle made by sandbox_value(). */
napi_status get_sandbox(napi_env env, napi_value v, oc_sandbox **out);
/* The data of a handle made by tagged_value() with tag; else a TypeError
 * "expected <what>". */
napi_status get_tagged(napi_env env, napi_value v, const napi_type_tag *tag, const char *what,
                       void **out);

/* ---- C → JS ---- */

/* A handle: an external tagged with tag, that gives data to finalize when
 * collected, or at once if it cannot be made. */
napi_status tagged_value(napi_env env, void *data, napi_finalize finalize,
                         const napi_type_tag *tag, napi_value *out);
/* A handle that owns the reference sb (also on failure). */
napi_status sandbox_value(napi_env env, oc_sandbox *sb, napi_value *out);
napi_status info_value(napi_env env, const oc_sandbox_info *info, napi_value *out);
napi_status file_value(napi_env env, const oc_file_info *fi, napi_value *out);
napi_status session_value(napi_env env, const oc_exec_session_info *si, napi_value *out);
napi_status checkpoint_value(napi_env env, const oc_checkpoint *cp, napi_value *out);

typedef napi_status (*item_fn)(napi_env env, const void *list, size_t i, napi_value *out);
/* An Array of item(list, 0..n-1). */
napi_status array_value(napi_env env, const void *list, size_t n, item_fn item, napi_value *out);

/* obj[key] = v, a string (null for NULL), a number or a boolean */
napi_status set_value(napi_env env, napi_value obj, const char *key, napi_value v);
napi_status set_str(napi_env env, napi_value obj, const char *key, const char *s);
napi_status set_num(napi_env env, napi_value obj, const char *key, double n);
napi_status set_bool(napi_env env, napi_value obj, const char *key, bool b);

#endif
