/* preview.h: what oc-server keeps about its sandboxes' previews: the
 * preview URLs made with createPreviewURL, and the hash of each sandbox's
 * preview token.  One JSON file per sandbox under <state-dir>/server/preview,
 * written whole and durably on every change, read at start. */
#pragma once

#include <json-glib/json-glib.h>

#include "opencomputer.h"

typedef struct HttpPreviews HttpPreviews;

/* Loads the files under dir (made if missing, mode 0700). */
HttpPreviews *http_previews_new(const char *dir, GError **error);
void http_previews_free(HttpPreviews *p);
/* <state_dir or $OC_STATE_DIR or the library's default>/server/preview */
char *http_previews_dir(const char *state_dir);
/* 256 random bits from getrandom, as 64 hex digits. */
char *http_random_token(GError **error);

/* A sandbox's preview token: requested is NULL or "auto" (256 random bits
 * are made) or the caller's own (16 to 256 printable ASCII characters).
 * Stores only its SHA-256, replacing the one before; returns the token. */
char *http_previews_set_token(HttpPreviews *p, const char *sandbox_id, const char *requested,
                              GError **error);
/* Whether requested would be accepted by http_previews_set_token(). */
gboolean http_previews_token_valid(const char *requested, GError **error);

typedef enum {
    HTTP_PREVIEW_OPEN,    /* the sandbox has no preview token */
    HTTP_PREVIEW_GRANTED, /* it has one, and given is it */
    HTTP_PREVIEW_DENIED,  /* it has one, and given (maybe NULL) is not it */
} HttpPreviewAccess;

/* Compares hashes in time that does not depend on where they differ. */
HttpPreviewAccess http_previews_check(HttpPreviews *p, const char *sandbox_id, const char *given);

/* The SDK's PreviewURLResult for the port: made (and stored) unless the
 * sandbox has one for it already, which is returned as it is. */
JsonNode *http_previews_add(HttpPreviews *p, const char *sandbox_id, guint port,
                            const char *hostname, const char *custom_hostname,
                            JsonNode *auth_config, GError **error);
JsonArray *http_previews_list(HttpPreviews *p, const char *sandbox_id);
/* FALSE when the sandbox has no preview URL for the port. */
gboolean http_previews_remove(HttpPreviews *p, const char *sandbox_id, guint port,
                              GError **error);
/* The sandbox is gone: drops its file. */
void http_previews_forget(HttpPreviews *p, const char *sandbox_id);
/* Forgets the records of sandboxes that no longer exist (killed while no
 * server ran, or by another process); returns how many. */
guint http_previews_sweep(HttpPreviews *p, oc_context *ctx);
