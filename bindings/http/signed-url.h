/* signed-url.h: signed file URLs, which let whoever holds one read (get) or
 * write (put) one file of one sandbox until a set time, without an API key.
 * The signature is HMAC-SHA256, under the server's key, over the sandbox
 * id, the operation, the expiry and the path.  Glib only, so tests/unit
 * links it alone; the key file and the routes are in routes-signed.c. */
#pragma once

#include <glib.h>

#define HTTP_SIGNED_KEY_LEN 32
#define HTTP_SIGNED_MAX_EXPIRES 86400 /* the SDK's documented maximum, in seconds */

typedef struct HttpSigner HttpSigner;

/* A signer from the key file's text: 64 hex digits, then optional
 * whitespace.  NULL with a message naming the file when malformed. */
HttpSigner *http_signer_new(const char *key_hex, const char *file, GError **error);
void http_signer_free(HttpSigner *s);

/* The signature (64 hex digits) of a URL granting op ("get" or "put") on
 * path in the sandbox until exp (Unix seconds). */
char *http_signer_sign(const HttpSigner *s, const char *sandbox_id, const char *op,
                       const char *path, gint64 exp);

typedef enum {
    HTTP_SIGNED_OK,
    HTTP_SIGNED_INVALID, /* missing, malformed or wrong parameters or signature */
    HTTP_SIGNED_EXPIRED, /* a signature of ours, past its expiry */
} HttpSignedCheck;

/* Checks a URL's parameters as they came (any may be NULL) against the
 * operation the request asks for: the signature is compared in time that
 * does not depend on where it differs, and expiry is reported only for a
 * valid signature, so a forger learns nothing from it. */
HttpSignedCheck http_signer_check(const HttpSigner *s, const char *sandbox_id, const char *op,
                                  const char *path, const char *exp, const char *sig,
                                  gint64 now);
