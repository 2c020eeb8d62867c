/* error.c: the internal error domain and its conversion to oc_error. */
#include "util/error.h"

#include "oc-private.h"

G_DEFINE_QUARK(oc-error-quark, oc_error)

int oc_error_propagate(oc_error **error, GError *gerror)
{
    int code = OC_EINTERNAL;

    if (gerror == NULL)
        return OC_EINTERNAL;
    /* OC_ECOMMAND: the last code of the list */
    if (gerror->domain == OC_ERROR && gerror->code < 0 && gerror->code >= OC_ECOMMAND)
        code = gerror->code;
    if (error) {
        oc_error *e = g_new0(oc_error, 1);
        e->code = code;
        e->message = g_strdup(gerror->message);
        *error = e;
    }
    g_error_free(gerror);
    return code;
}
