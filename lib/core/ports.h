/* ports.h: guest TCP ports reached through listeners on the host's loopback
 * (ports.c; docs/network.md). */
#ifndef OC_CORE_PORTS_H
#define OC_CORE_PORTS_H

#include <glib.h>

#include "opencomputer.h"

typedef struct _CorePort CorePort;

/* Exposes guest_port at 127.0.0.1:host_port (0: any free port) for as long
 * as the handle sb lives; *bound receives the host port.  Exposing a port
 * again returns the same host port. */
gboolean core_port_expose(oc_sandbox *sb, guint16 guest_port, guint16 host_port,
                          guint16 *bound, GError **error);
/* Closes the listener and every connection through it. */
gboolean core_port_unexpose(oc_sandbox *sb, guint16 guest_port, GError **error);
/* Closes every port of the handle (its end, the sandbox's kill). */
void core_ports_close(oc_sandbox *sb);

#endif
