/* body.h: JSON request bodies of the SDK's calls, parsed into plain structs
 * before anything acts on them.  A field of the wrong type is an error
 * (400); fields the server does not use are ignored, as the SDK sends
 * options (burst, secretStore, ...) that have no meaning on one host. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#define HTTP_BODY_ERROR (http_body_error_quark())
GQuark http_body_error_quark(void);

/* Parses a request body; an empty body is an empty object.  Anything but a
 * JSON object is an error. */
JsonObject *http_body_parse(const char *data, gsize len, GError **error);

/* An egress policy, {"allowOut": [...], "denyOut": [...], "blockAll": bool}
 * (docs/network.md).  The entries are checked by the library, whose error
 * names a bad one. */
typedef struct {
    gboolean given;       /* FALSE: the body had none */
    GStrv allow_out;      /* NULL: none */
    GStrv deny_out;
    gboolean block_all;
} HttpNetworkBody;

/* Parses o as a policy.  Unknown keys are an error: a misspelt "allowout"
 * would otherwise leave the sandbox open. */
gboolean http_body_network(JsonObject *o, HttpNetworkBody *out, GError **error);
/* The optional object member name of o, as a policy. */
gboolean http_body_network_member(JsonObject *o, const char *name, HttpNetworkBody *out,
                                  GError **error);
void http_network_body_clear(HttpNetworkBody *b);

typedef struct {
    char *template_name;  /* NULL: the default */
    gint64 timeout_s;     /* -1: not given */
    guint cpu_count;      /* 0: not given */
    guint memory_mb;      /* 0: not given */
    GStrv envs;           /* "K=V", NULL-terminated; NULL: none */
    GStrv metadata;
    HttpNetworkBody network;
    JsonObject *image;    /* the SDK's Image.toJSON() (image.h); NULL: none */
    char *snapshot;       /* a snapshot's (template's) name, which wins over templateID */
} HttpCreateBody;

gboolean http_body_create(JsonObject *o, HttpCreateBody *out, GError **error);
void http_create_body_clear(HttpCreateBody *b);

typedef struct {
    char *cmd;
    GStrv args;          /* NULL: none */
    GStrv envs;
    char *cwd;
    gint64 timeout_s;    /* -1: not given */
} HttpExecBody;

gboolean http_body_exec(JsonObject *o, HttpExecBody *out, GError **error);
void http_exec_body_clear(HttpExecBody *b);

/* An optional integer member in [min, max]; *out keeps its value when the
 * member is absent or null. */
gboolean http_body_int(JsonObject *o, const char *name, gint64 min, gint64 max, gint64 *out,
                       GError **error);
/* An optional string member; *out (newly allocated) stays NULL when absent. */
gboolean http_body_string(JsonObject *o, const char *name, char **out, GError **error);
/* An optional object of strings, as "K=V" strings. */
gboolean http_body_string_map(JsonObject *o, const char *name, GStrv *out, GError **error);
