/* handlers.h: the route handlers, by resource. */
#pragma once

#include "body.h"
#include "server.h"

/* routes-sandbox.c */
void http_sandbox_create(HttpRequest *r);
void http_sandbox_list(HttpRequest *r);
void http_sandbox_get(HttpRequest *r);
void http_sandbox_kill(HttpRequest *r);
void http_sandbox_timeout(HttpRequest *r);
void http_sandbox_hibernate(HttpRequest *r);
void http_sandbox_reboot(HttpRequest *r);
void http_sandbox_power_cycle(HttpRequest *r);
void http_sandbox_wake(HttpRequest *r);
/* routes-network.c */
void http_network_get(HttpRequest *r);
void http_network_put(HttpRequest *r);
void http_allowed_hosts(HttpRequest *r);
/* NULL when the body had no policy, else policy filled from b. */
const oc_network_policy *http_network_policy(const HttpNetworkBody *b, oc_network_policy *policy);
/* routes-checkpoint.c */
void http_checkpoint_create(HttpRequest *r);
void http_checkpoint_list(HttpRequest *r);
void http_checkpoint_restore(HttpRequest *r);
void http_checkpoint_delete(HttpRequest *r);
void http_from_checkpoint(HttpRequest *r);
/* routes-template.c */
void http_template_get(HttpRequest *r);
void http_template_list(HttpRequest *r);
void http_template_delete(HttpRequest *r);
void http_template_build(HttpRequest *r);
/* The SDK's TemplateInfo {templateID, name, tag, status} and this host's
 * fields (parent, createdAt, sizeBytes, diskBytes, snapshotReady, steps,
 * env, workdir, user). */
JsonNode *http_json_template(HttpServer *srv, const oc_template_info *t);
/* Replies with the array of each(template) for this host's templates, in
 * name order; each returns NULL to leave one out. */
typedef JsonNode *(*HttpTemplateJson)(HttpServer *srv, const oc_template_info *t);
void http_reply_template_list(HttpRequest *r, HttpTemplateJson each);
/* routes-snapshot.c */
void http_snapshot_create(HttpRequest *r);
void http_snapshot_list(HttpRequest *r);
void http_snapshot_get(HttpRequest *r);
void http_snapshot_delete(HttpRequest *r);
/* Drops the server's record of snapshot name (its template is gone). */
void http_snapshot_forget(HttpServer *srv, const char *name);
/* routes-preview.c */
void http_preview_create(HttpRequest *r);
void http_preview_list(HttpRequest *r);
void http_preview_delete(HttpRequest *r);
void http_preview_rotate(HttpRequest *r);
/* create's previewAuth: *want when asked for, *token the caller's (NULL or
 * "auto": make one); FALSE with a message for the client when malformed. */
gboolean http_preview_auth_requested(JsonObject *json, gboolean *want, char **token,
                                     GError **error);
/* routes-exec.c */
void http_exec_run_async(HttpRequest *r);
void http_exec_run(HttpRequest *r);
void http_exec_result(HttpRequest *r);
void http_exec_start(HttpRequest *r);
void http_exec_list(HttpRequest *r);
void http_exec_kill(HttpRequest *r);
HttpExecTable *http_exec_table_new(void);
void http_exec_table_free(HttpExecTable *t);
/* routes-files.c */
void http_files_read(HttpRequest *r);
void http_files_write(HttpRequest *r);
void http_files_delete(HttpRequest *r);
void http_files_list(HttpRequest *r);
void http_files_mkdir(HttpRequest *r);
/* routes-signed.c: signed file URLs; the signed routes themselves are
 * http_files_read and http_files_write, once http_signed_verify (before the
 * body is read, on the HTTP thread) has returned 0, else a status with *why
 * for the client. */
void http_files_download_url(HttpRequest *r);
void http_files_upload_url(HttpRequest *r);
void http_signed_preflight(HttpRequest *r);
HttpSigner *http_signer_load(const char *state_dir, GError **error);
guint http_signed_verify(HttpServer *srv, SoupServerMessage *msg, const HttpRoute *route,
                         GHashTable *query, const char **why);
/* routes-session.c: background sessions; ids in URLs are the library's
 * numbers (a malformed one is a 404). */
gboolean http_session_id(HttpRequest *r, uint32_t *out);
void http_reply_session(HttpRequest *r, uint32_t id); /* {"sessionID","sandboxID"} */
/* The sandbox's sessions, or with agents its agent sessions. */
void http_reply_session_list(HttpRequest *r, gboolean agents);
/* routes-agent.c: agent sessions (their events go over the exec WebSocket,
 * and kill is http_exec_kill) */
void http_agent_start(HttpRequest *r);
void http_agent_list(HttpRequest *r);
void http_agent_prompt(HttpRequest *r);
void http_agent_interrupt(HttpRequest *r);
/* routes-pty.c */
void http_pty_create(HttpRequest *r);
void http_pty_resize(HttpRequest *r);
void http_pty_delete(HttpRequest *r);
/* ws-exec.c: upgrades the request (on the HTTP thread) and follows the
 * session. */
void http_ws_upgrade(HttpServer *srv, SoupServerMessage *msg, const HttpRoute *route);
