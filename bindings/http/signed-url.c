/* signed-url.c: signing and checking signed file URLs (signed-url.h). */
#include "signed-url.h"

#include <string.h>

struct HttpSigner {
    guint8 key[HTTP_SIGNED_KEY_LEN];
};

/* n bytes from 2n hex digits; FALSE on anything else. */
static gboolean unhex(const char *hex, guint8 *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return FALSE;
    for (size_t i = 0; i < n; i++) {
        int hi = g_ascii_xdigit_value(hex[2 * i]), lo = g_ascii_xdigit_value(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return FALSE;
        out[i] = (guint8)(hi << 4 | lo);
    }
    return TRUE;
}

HttpSigner *http_signer_new(const char *key_hex, const char *file, GError **error)
{
    g_autofree char *text = g_strstrip(g_strdup(key_hex));
    HttpSigner *s = g_new0(HttpSigner, 1);

    if (!unhex(text, s->key, sizeof s->key)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "the URL signing key %s is not %d hex digits; remove it and restart to "
                    "make a new one (signed URLs made before stop working)", file,
                    2 * HTTP_SIGNED_KEY_LEN);
        http_signer_free(s);
        return NULL;
    }
    return s;
}

void http_signer_free(HttpSigner *s)
{
    if (!s)
        return;
    memset(s->key, 0, sizeof s->key);
    g_free(s);
}

/* The signed text: a version, then fields none of which but the last (the
 * path, which may hold anything) can contain '\n', so no two URLs share it. */
static void mac(const HttpSigner *s, const char *sandbox_id, const char *op, const char *path,
                gint64 exp, guint8 out[32])
{
    g_autofree char *text = g_strdup_printf("oc-signed-url-1\n%s\n%s\n%" G_GINT64_FORMAT "\n%s",
                                            sandbox_id, op, exp, path);
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, s->key, sizeof s->key);
    gsize len = 32;

    g_hmac_update(h, (const guchar *)text, -1);
    g_hmac_get_digest(h, out, &len);
    g_hmac_unref(h);
}

char *http_signer_sign(const HttpSigner *s, const char *sandbox_id, const char *op,
                       const char *path, gint64 exp)
{
    guint8 d[32];
    GString *hex = g_string_sized_new(64);

    mac(s, sandbox_id, op, path, exp, d);
    for (size_t i = 0; i < sizeof d; i++)
        g_string_append_printf(hex, "%02x", d[i]);
    return g_string_free(hex, FALSE);
}

HttpSignedCheck http_signer_check(const HttpSigner *s, const char *sandbox_id, const char *op,
                                  const char *path, const char *exp, const char *sig,
                                  gint64 now)
{
    guint8 want[32], given[32];
    guint64 e = 0;
    guint8 diff = 0;

    /* exp: plain decimal digits, as we write it; a second spelling of the
     * same number would still be the same signature, but there is no need */
    if (!sandbox_id || !op || !path || !exp || !sig || strlen(exp) > 12 ||
        !g_ascii_string_to_unsigned(exp, 10, 0, G_MAXINT64, &e, NULL) ||
        !g_ascii_isdigit(exp[0]) || !unhex(sig, given, sizeof given))
        return HTTP_SIGNED_INVALID;
    mac(s, sandbox_id, op, path, (gint64)e, want);
    for (size_t i = 0; i < sizeof want; i++)
        diff |= want[i] ^ given[i];
    if (diff != 0)
        return HTTP_SIGNED_INVALID;
    return (gint64)e < now ? HTTP_SIGNED_EXPIRED : HTTP_SIGNED_OK;
}
