/* oc-error.c: public entry points for errors, memory and logging. */
#include "oc-private.h"
#include "util/error.h"
#include "util/log.h"

OC_API int oc_error_code_of(const oc_error *error)
{
    return error ? error->code : OC_OK;
}

OC_API const char *oc_error_message(const oc_error *error)
{
    return error ? error->message : "no error";
}

OC_API void oc_error_free(oc_error *error)
{
    if (!error)
        return;
    g_free(error->message);
    g_free(error);
}

OC_API const char *oc_strerror(int code)
{
    switch (code) {
    case OC_OK: return "success";
    case OC_EINVAL: return "invalid argument";
    case OC_ENOTFOUND: return "not found";
    case OC_ESTATE: return "wrong state";
    case OC_ETIMEOUT: return "timed out";
    case OC_EAGENT: return "guest agent error";
    case OC_EVIRT: return "virtualization error";
    case OC_EIO: return "input/output error";
    case OC_ELIMIT: return "limit exceeded";
    case OC_EEXISTS: return "already exists";
    case OC_EUNSUPPORTED: return "not supported";
    case OC_ENOMEM: return "out of memory";
    case OC_ECANCELLED: return "cancelled";
    case OC_EPERM: return "permission denied";
    case OC_EINTERNAL: return "internal error";
    case OC_ECOMMAND: return "command failed";
    default: return "unknown error";
    }
}

OC_API void oc_free(void *ptr)
{
    g_free(ptr);
}

OC_API void oc_set_log_handler(oc_log_fn fn, void *user_data, oc_destroy_notify destroy)
{
    log_set_handler(fn, user_data, destroy);
}

gboolean oc_check_flags(uint32_t flags, uint32_t allowed, const char *func, GError **error)
{
    if (flags & ~allowed) {
        g_set_error(error, OC_ERROR, OC_EINVAL,
                    "%s: unknown flags 0x%x; pass 0 or the documented OC_* flags",
                    func, flags & ~allowed);
        return FALSE;
    }
    return TRUE;
}
