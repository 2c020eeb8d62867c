// agent.mjs: agent sessions, `sandbox.agent`, in the shape of
// @opencomputer/sdk's SandboxAgent.  A session is followed through a stream
// (stream.c) as exec sessions are: its events are parsed by the library
// (a JSON object per line; a line that is not one becomes an `error` event
// with "source":"host" and the raw text) and reach the callbacks on the
// main thread, in order.  Commands are jobs on the thread pool, queued so
// that they reach the program in the order made.
import {
  native, call, inOrder, sessionNumber, STDERR, REPLAY_END, END, EVENT,
} from './native.mjs';

// Settings the library's options do not name go in its configJson, under
// the SDK's names.
const EXTRA_SETTINGS = ['allowedTools', 'permissionMode', 'mcpServers', 'resume'];

function configJson(opts) {
  const extra = {};
  for (const key of EXTRA_SETTINGS) {
    if (opts[key] !== undefined && opts[key] !== null) extra[key] = opts[key];
  }
  return Object.keys(extra).length ? JSON.stringify(extra) : undefined;
}

// The library passes JSON objects only; one its parser takes and JSON.parse
// does not is told as the library tells a line that is not JSON.
function parseEvent(line) {
  try {
    return JSON.parse(line);
  } catch (e) {
    return { type: 'error', source: 'host', message: `not JSON: ${e.message}`, raw: line };
  }
}

// The callbacks of a followed session, and its `done` Promise.  As in the
// SDK: `done` resolves to the exit code, or to -1 (after onExit(-1)) when
// the following ended otherwise (close(), hibernate, kill of the sandbox).
function follow({ onEvent, onError, onExit, onScrollbackEnd }) {
  let resolveDone;
  const done = new Promise((resolve) => { resolveDone = resolve; });
  const stderr = new TextDecoder();
  function dispatch(kind, data, exitCode) {
    if (kind === EVENT) {
      const event = parseEvent(data);
      // the SDK's own client reports a line that is not JSON this way too
      if (event.type === 'error' && event.source === 'host' && typeof event.raw === 'string') {
        onError?.(`non-JSON stdout: ${event.raw}`);
      }
      onEvent?.(event);
    } else if (kind === STDERR) {
      const text = stderr.decode(data, { stream: true });
      if (text) onError?.(text);
    } else if (kind === REPLAY_END) {
      onScrollbackEnd?.();
    } else if (kind === END) {
      const code = data === 0 ? exitCode : -1;
      try {
        const rest = stderr.decode(); // a character the log left unfinished
        if (rest) onError?.(rest);
        onExit?.(code);
      } finally {
        resolveDone(code);
      }
    }
  }
  return { dispatch, done };
}

/**
 * A followed agent session (SandboxAgentSession).  `sendPrompt`,
 * `interrupt` and `configure` write one command line each to the program's
 * stdin, in the order made; they need not be awaited (as in the SDK), and
 * awaiting one reports its failure.  `close()` stops following; the program
 * goes on and `attach` follows it again.
 */
class AgentSession {
  #handle;
  #sandbox;
  #queue = inOrder();

  constructor(sandbox, { handle, sessionId }, done) {
    this.#sandbox = sandbox;
    this.#handle = handle;
    this.sessionId = String(sessionId);
    this.done = done;
  }

  #inOrder(fn, ...args) {
    const p = this.#queue(fn, this.#handle, ...args);
    // fire and forget is the SDK's way: an ignored failure is not an
    // unhandled rejection
    p.catch(() => {});
    return p;
  }

  /** Writes {"type":"prompt","text":text}. */
  sendPrompt(text) {
    return this.#inOrder(native.agentSendPrompt, text);
  }

  /** Writes {"type":"interrupt"}. */
  interrupt() {
    return this.#inOrder(native.agentInterrupt);
  }

  /** Writes {"type":"configure", ...config}. */
  configure(config) {
    return this.#inOrder(native.agentConfigure, JSON.stringify(config ?? {}));
  }

  /** Signals the program's process group; default SIGKILL (9). */
  async kill(signal) {
    await call(native.agentKill, this.#sandbox, Number(this.sessionId), signal);
  }

  /** Stops following (after the commands already made); `done` resolves to -1. */
  close() {
    return this.#inOrder(native.agentClose);
  }
}

/** Agent sessions in a sandbox: `sandbox.agent`. */
export class SandboxAgent {
  #sandbox;
  #sandboxId;

  constructor(handle, sandboxId) {
    this.#sandbox = handle;
    this.#sandboxId = sandboxId;
  }

  /**
   * Starts the agent program (default /usr/local/bin/oc-agent-runner, or
   * `program` with `args` and `envs`) and follows it from its first event.
   * The settings are sent as a first `configure` command, then `prompt`.
   */
  async start(opts = {}) {
    const { prompt, model, systemPrompt, maxTurns, cwd, program, args, envs } = opts;
    const f = follow(opts);
    const opened = await call(native.agentStart, this.#sandbox,
                              { program, args, envs, prompt, model, systemPrompt, maxTurns,
                                cwd, configJson: configJson(opts) }, f.dispatch);
    return new AgentSession(this.#sandbox, opened, f.done);
  }

  /**
   * Follows a session, from this or any process: its history (the events
   * its scrollback holds), `onScrollbackEnd`, then live events.
   */
  async attach(sessionId, opts = {}) {
    const f = follow(opts);
    const opened = await call(native.agentAttach, this.#sandbox, sessionNumber(sessionId),
                              f.dispatch);
    return new AgentSession(this.#sandbox, opened, f.done);
  }

  /**
   * The sandbox's agent sessions, running and exited: the SDK's
   * {sessionID, sandboxID, running, startedAt} (an ISO time), plus the
   * command, pid and, once exited, exitCode.
   */
  async list() {
    return (await call(native.agentList, this.#sandbox)).map(
      ({ sessionId, startedAtMs, exitCode, ...rest }) => ({
        sessionID: String(sessionId), sandboxID: this.#sandboxId, ...rest,
        ...(exitCode === null ? {} : { exitCode }),
        startedAt: new Date(startedAtMs).toISOString(),
      }));
  }
}
