/* error.h: the library's internal error domain.
 *
 * Inside the library every failure is a GError in OC_ERROR whose code is one
 * of the public oc_error_code values; the public entry points convert it to
 * an oc_error exactly once (oc_error_from_gerror()).
 */
#ifndef OC_UTIL_ERROR_H
#define OC_UTIL_ERROR_H

#include <glib.h>

#include "opencomputer.h"

#define OC_ERROR (oc_error_quark())
GQuark oc_error_quark(void);

/* Fills *error (if error != NULL) from a GError and returns its code.
 * A GError from another domain maps to OC_EINTERNAL, keeping its message. */
int oc_error_propagate(oc_error **error, GError *gerror);

#endif
