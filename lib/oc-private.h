/* oc-private.h: definitions shared by the public entry points (lib/oc-*.c)
 * that must not appear in the public header. */
#ifndef OC_PRIVATE_H
#define OC_PRIVATE_H

#include <glib.h>

#include "opencomputer.h"
#include "util/error.h"

struct oc_error {
    int code;
    char *message;
};

/* Rejects unknown flag bits with OC_EINVAL, naming the function. */
gboolean oc_check_flags(uint32_t flags, uint32_t allowed, const char *func, GError **error);

/* Returns OC_EINVAL through `error` from a public entry point when cond is
 * false; the message should name the function and the argument. */
#define CHECK_ARG(cond, ...)                                             \
    do {                                                                 \
        if (!(cond)) {                                                   \
            GError *e_ = NULL;                                           \
            g_set_error(&e_, OC_ERROR, OC_EINVAL, __VA_ARGS__);          \
            return oc_error_propagate(error, e_);                        \
        }                                                                \
    } while (0)

#endif
