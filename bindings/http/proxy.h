/* proxy.h: preview requests: a guest port of a sandbox served through
 * oc-server (see proxy.c). */
#pragma once

#include "server.h"

/* Soup's thread, in the early handler, once http_preview_match() said msg
 * is a preview request: checks the preview token (or API key), then takes
 * the connection from soup and serves the request from the guest's port.
 * Returns 0, or the status of an error to reply with *why (static). */
guint http_proxy_start(HttpServer *srv, SoupServerMessage *msg, HttpPreviewTarget *target,
                       gboolean api_key_ok, const char **why);
