/* json-out.h: the SDK's response shapes, built from the library's objects. */
#pragma once

#include <json-glib/json-glib.h>
#include <opencomputer.h>

/* {sandboxID, status, templateID, cpuCount, memoryMB, timeout, metadata,
 *  startedAt, endAt, network, ...} */
JsonNode *http_json_sandbox(const oc_sandbox_info *info);
/* {allowOut, denyOut, blockAll}: the egress policy as set (routes-network.c) */
JsonObject *http_json_network(const oc_sandbox_info *info);
/* {id, sandboxId, name, status, sizeBytes, createdAt, sandboxConfig} */
JsonNode *http_json_checkpoint(const oc_checkpoint *cp);
/* {"error": message} as JSON text */
char *http_json_error_text(const char *message);
/* {exitCode, stdout, stderr} plus what the caller adds */
JsonObject *http_json_exec_result(const oc_exec_result *res);
