/* sandboxes.h: one library handle per sandbox id, shared by requests, and
 * the background wakes of the SDK's X-OSB-Async-Wake flow. */
#pragma once

#include "server.h"

HttpSandboxes *http_sandboxes_new(void);
void http_sandboxes_free(HttpSandboxes *s);

/* The handle of the request's sandbox (a new reference), or NULL with the
 * error replied (404 for an unknown id). */
oc_sandbox *http_sandbox_open(HttpRequest *r);
/* The same for code without a request: NULL with *err set. */
oc_sandbox *http_sandbox_lookup(HttpServer *srv, const char *id, oc_error **err);
/* Drops the cached handle (after a kill). */
void http_sandbox_forget(HttpServer *srv, const char *id);
/* A call about sandbox id (may be NULL) failed with code: when it was
 * OC_ENOTFOUND and the cached handle's sandbox is gone (killed by another
 * process, say), drops the handle, so the cache holds live sandboxes only. */
void http_sandbox_check_gone(HttpServer *srv, const char *id, int code);
void http_sandbox_remember(HttpServer *srv, oc_sandbox *sb);
/* For calls that wake a hibernated sandbox: when the request asked for the
 * async flow and the sandbox is not running, starts a wake in the
 * background (once), replies 503 {"waking": true} and returns TRUE. */
gboolean http_sandbox_waking(HttpRequest *r, oc_sandbox *sb);
