/* agent.h: agent sessions (oc_agent_*) for oc_native.c: started, attached,
 * driven and listed through jobs (job.h); their events reach JS through a
 * stream (stream.h) as STREAM_EVENT lines.  agent.mjs builds the SDK's
 * SandboxAgent on top. */
#ifndef OC_NODE_AGENT_H
#define OC_NODE_AGENT_H

#include <node_api.h>

/* Defines agentStart, agentAttach, agentSendPrompt, agentInterrupt,
 * agentConfigure, agentClose, agentKill and agentList on exports. */
napi_status agent_define(napi_env env, napi_value exports);

#endif
