// index.mjs: the Node binding of libopencomputer, in the @opencomputer/sdk
// shape.  Every call returns a Promise; the blocking C call runs on libuv's
// thread pool (oc_native.c), so the event loop keeps running.  Output of
// followed sessions comes from the library's threads through thread-safe
// functions (stream.c), so callbacks run on the main thread, in order.
import {
  native, call, errorFor, mapError, inOrder, sessionNumber, STDOUT, STDERR, REPLAY_END, END, GAP,
} from './native.mjs';
import { SandboxAgent } from './agent.mjs';

export {
  SandboxError, InvalidArgumentError, NotFoundError, StateError, TimeoutError, LimitError,
  AlreadyExistsError, PermissionDeniedError, UnsupportedError, CommandError,
} from './native.mjs';
export { SandboxAgent } from './agent.mjs';

function toDate(seconds) {
  return seconds ? new Date(seconds * 1000) : null;
}

function sandboxInfo(raw) {
  const { created, idleDeadline, ...rest } = raw;
  return { ...rest, startedAt: toDate(created), endAt: toDate(idleDeadline) };
}

function checkpointInfo(raw) {
  const { created, ...rest } = raw;
  return { ...rest, createdAt: toDate(created) };
}

// The SDK's TemplateInfo fields, then ours: a template that exists is
// ready to start sandboxes, and has no tags.
function templateInfo(raw) {
  const { created, ...rest } = raw;
  return { templateID: raw.name, name: raw.name, tag: 'latest', status: 'ready', ...rest,
           createdAt: toDate(created) };
}

// The library's oc_build_step_kind numbers.
const STEP_KINDS = { run: 1, apt: 2, copy: 3, env: 4, workdir: 5, user: 6, agent: 7 };
const STEP_EXEC_FORM = 1;

function buildStep(step, i) {
  const kind = STEP_KINDS[String(step?.type).toLowerCase()];
  if (kind === undefined) {
    throw new TypeError(`steps[${i}]: type must be one of ${Object.keys(STEP_KINDS).join(', ')}`);
  }
  const args = typeof step.args === 'string' ? [step.args] : step.args;
  return { kind, args, chown: step.chown, chmod: step.chmod,
           flags: step.execForm ? STEP_EXEC_FORM : 0 };
}

function fileInfo(raw, dir) {
  const { mtimeMs, ...rest } = raw;
  const path = dir === undefined ? undefined : `${dir.replace(/\/+$/, '')}/${raw.name}`;
  return { ...rest, ...(path === undefined ? {} : { path }), modifiedAt: new Date(mtimeMs),
           isDir: raw.type === 'dir' };
}

const decoder = new TextDecoder();

function timeoutMs(seconds) {
  return seconds === undefined || seconds === null ? undefined : Math.round(seconds * 1000);
}


// Passes output chunks to fn: Buffers, or strings when `encoding` is given
// (decoded as a stream, so a character split across chunks comes whole).
function output(fn, encoding) {
  if (!fn) return null;
  if (!encoding) return { write: fn, flush() {} };
  const dec = new TextDecoder(encoding);
  const put = (text) => { if (text) fn(text); };
  return { write: (buf) => put(dec.decode(buf, { stream: true })), flush: () => put(dec.decode()) };
}

// A session's callbacks, and its `done` Promise: the exit code, or the
// error that ended the following.
function follow({ onStdout, onStderr, onScrollbackEnd, onExit, onGap, encoding }) {
  const out = output(onStdout, encoding);
  const err = output(onStderr, encoding);
  let settle;
  const done = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  // it may fail (after close()) with nobody awaiting it: not an unhandled rejection
  done.catch(() => {});
  function dispatch(kind, data, exitCode, message) {
    if (kind === STDOUT) {
      out?.write(data);
    } else if (kind === STDERR) {
      err?.write(data);
    } else if (kind === GAP) {
      // a character split across the gap cannot be completed: flush its
      // first half (replaced) before the gap is told
      (data === STDOUT ? out : err)?.flush();
      onGap?.(/* stream */ data, /* skipped */ exitCode);
    } else if (kind === REPLAY_END) {
      onScrollbackEnd?.();
    } else if (kind === END) {
      const status = data;
      try {
        out?.flush();
        err?.flush();
        if (status === 0) onExit?.(exitCode);
      } finally {
        if (status === 0) settle.resolve(exitCode);
        else settle.reject(errorFor(status, message ?? 'the session ended'));
      }
    }
  }
  return { dispatch, done };
}

// A copy now: a caller may reuse its buffer before a queued write runs.
function bytesNow(data) {
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array) return Buffer.from(data);
  throw new TypeError('expected a string, Buffer or Uint8Array');
}

/**
 * A session this process follows (`exec.start`, `exec.attach`, `pty.create`).
 * `done` resolves to the exit code (128+signal if a signal ended it); it
 * rejects with a SandboxError after `close()` (code -12) or when the
 * following ends otherwise (the sandbox was hibernated or killed).
 * While following, the session keeps the process alive.
 */
export class ExecSession {
  #handle;
  #queue = inOrder();

  constructor({ handle, sessionId, isPty }, done) {
    this.#handle = handle;
    this.sessionId = String(sessionId);
    this.isPty = isPty;
    this.done = done;
  }

  // Writes, end of input and resizes reach the session in the order made.
  #inOrder(fn, ...args) {
    return this.#queue(fn, this.#handle, ...args);
  }

  /**
   * Writes to the process's stdin.  Fire and forget is fine (writes stay in
   * order); await it to learn of errors, or to slow down while the sandbox
   * holds 4 MiB the process has not read.
   */
  sendStdin(data) {
    return this.#inOrder(native.execSendStdin, bytesNow(data));
  }

  /** For a terminal: keystrokes (same as sendStdin). */
  send(data) {
    return this.sendStdin(data);
  }

  /** Closes the process's stdin (a terminal gets its end-of-file key). */
  closeStdin() {
    return this.#inOrder(native.execCloseStdin);
  }

  /** Sets a terminal session's size. */
  resize(cols, rows) {
    return this.#inOrder(native.execResize, cols, rows);
  }

  /** Signals the session's process group; default SIGKILL (9). */
  async kill(signal = 9) {
    await call(native.execSignal, this.#handle, signal);
  }

  /** Stops following (detach): the process goes on and may be attached again. */
  close() {
    native.execDetach(this.#handle);
  }
}

/**
 * A bash session whose working directory, exported variables, functions and
 * aliases persist from one `run` to the next (`exec.shell`).  One command at
 * a time: a `run` while another is in progress rejects at once with a
 * StateError (shell busy).
 */
export class Shell {
  #handle;

  constructor({ handle, sessionId }) {
    this.#handle = handle;
    this.sessionId = String(sessionId);
  }

  /**
   * Runs a command (stdin: /dev/null); resolves to its stdout, stderr and
   * exitCode.  `timeout` in seconds (default 60, 0: none); a timeout kills
   * the shell (TimeoutError), and so does a command that exits it
   * (StateError): later runs reject with a StateError.
   */
  run(cmd, { timeout } = {}) {
    return call(native.shellRun, this.#handle, cmd, timeoutMs(timeout));
  }

  /** Ends the shell; a run in progress rejects. */
  async close() {
    await call(native.shellClose, this.#handle);
  }
}

/** Commands in a sandbox: `sandbox.exec` (and the deprecated `sandbox.commands`). */
export class Exec {
  #handle;
  #sandboxId;

  constructor(handle, sandboxId) {
    this.#handle = handle;
    this.#sandboxId = sandboxId;
  }

  /**
   * Runs a command to completion: under /bin/sh -c, or directly with `args`.
   * A non-zero exit or a timeout is a result, not an error.
   */
  run(cmd, { args, env, cwd, timeout, stdin } = {}) {
    return call(native.execRun, this.#handle, cmd, args, env, cwd, timeoutMs(timeout), stdin);
  }

  /**
   * Starts a command as a background session and follows it: the callbacks
   * get its output from the first byte (Buffers, or strings with
   * `encoding`), `onExit` its exit code.  `timeout` in seconds (default:
   * none).  The session outlives this process; `attach` follows it again.
   */
  async start(cmd, { args, env, cwd, timeout, onStdout, onStderr, onExit, onScrollbackEnd, onGap,
                     encoding } = {}) {
    const f = follow({ onStdout, onStderr, onScrollbackEnd, onExit, onGap, encoding });
    const opened = await call(native.execSpawn, this.#handle, cmd, args, env, cwd,
                              timeoutMs(timeout), f.dispatch);
    return new ExecSession(opened, f.done);
  }

  /** The same as `start`. */
  background(cmd, opts) {
    return this.start(cmd, opts);
  }

  /**
   * Follows a running session: first what its scrollback still holds, then
   * `onScrollbackEnd`, then live output; `onGap` comes first if the
   * scrollback no longer holds the start.
   */
  async attach(sessionId, { onStdout, onStderr, onExit, onScrollbackEnd, onGap,
                            encoding } = {}) {
    const f = follow({ onStdout, onStderr, onScrollbackEnd, onExit, onGap, encoding });
    const opened = await call(native.execAttach, this.#handle, sessionNumber(sessionId),
                              f.dispatch);
    return new ExecSession(opened, f.done);
  }

  /** The sandbox's sessions, running and exited. */
  async list() {
    return (await call(native.execList, this.#handle)).map(
      ({ sessionId, startedAtMs, exitCode, ...rest }) => ({
        sessionID: String(sessionId), sandboxID: this.#sandboxId, ...rest,
        ...(exitCode === null ? {} : { exitCode }), startedAt: new Date(startedAtMs),
      }));
  }

  /** Signals a session's process group; default SIGKILL. */
  async kill(sessionId, signal) {
    await call(native.execKill, this.#handle, sessionNumber(sessionId), signal);
  }

  /** Opens a stateful shell (bash, without profile or rc files). */
  async shell({ env, cwd } = {}) {
    return new Shell(await call(native.shellOpen, this.#handle, env, cwd));
  }
}

/** Terminals in a sandbox: `sandbox.pty`. */
export class Pty {
  #handle;

  constructor(handle) {
    this.#handle = handle;
  }

  /**
   * Starts a program (default: bash -l) on a terminal of cols x rows
   * (default 80 x 24) and follows it; `onOutput` gets what the terminal
   * shows, echoed keystrokes included.
   */
  async create({ cols, rows, shell, env, cwd, onOutput, encoding } = {}) {
    const f = follow({ onStdout: onOutput, encoding });
    return new ExecSession(await call(native.ptyCreate, this.#handle, cols, rows, shell, env,
                                      cwd, f.dispatch), f.done);
  }
}

/** Files in a sandbox: `sandbox.files`. */
export class Files {
  #handle;

  constructor(handle) {
    this.#handle = handle;
  }

  /** The file's content as a string (UTF-8). */
  async read(path) {
    return decoder.decode(await this.readBytes(path));
  }

  /** The file's content as a Buffer (a Uint8Array). */
  readBytes(path) {
    return call(native.filesRead, this.#handle, path);
  }

  /** Creates or replaces a file atomically; the parent directory must exist. */
  async write(path, data) {
    await call(native.filesWrite, this.#handle, path, data);
  }

  async list(path) {
    return (await call(native.filesList, this.#handle, path)).map((f) => fileInfo(f, path));
  }

  /** mkdir -p */
  async makeDir(path) {
    await call(native.filesMkdir, this.#handle, path);
  }

  async remove(path, { recursive = true } = {}) {
    await call(native.filesRemove, this.#handle, path, recursive);
  }

  exists(path) {
    return call(native.filesExists, this.#handle, path);
  }

  async stat(path) {
    return { ...fileInfo(await call(native.filesStat, this.#handle, path)), path };
  }

  async rename(oldPath, newPath) {
    await call(native.filesRename, this.#handle, oldPath, newPath);
  }
}

/**
 * A sandbox: a Linux VM.  Dropping the object never stops the VM;
 * `kill()` does.
 */
export class Sandbox {
  #handle;

  constructor(handle) {
    this.#handle = handle;
    this.sandboxId = native.sandboxId(handle);
    this.exec = new Exec(handle, this.sandboxId);
    this.files = new Files(handle);
    this.pty = new Pty(handle);
    this.agent = new SandboxAgent(handle, this.sandboxId);
  }

  /** @deprecated use `exec` */
  get commands() {
    return this.exec;
  }

  /**
   * Creates and boots a sandbox; resolves once its agent answers.
   * `network`: its egress policy, {allowOut, denyOut, blockAll} (see
   * setNetwork).
   */
  static async create({ template, timeout, cpuCount, memoryMB, envs, metadata, network } = {}) {
    return new Sandbox(await call(native.create,
      { template, timeout, cpuCount, memoryMB, envs, metadata, network }));
  }

  /** A handle on an existing sandbox, from any process. */
  static async connect(sandboxId) {
    return new Sandbox(await call(native.connect, sandboxId));
  }

  /**
   * A new sandbox (a fork) that resumes from a checkpoint: its processes run
   * on, its disk is its own, its hostname is its sandbox id and its RNG is
   * reseeded; it has the checkpoint's cpu count and memory.  With `count`,
   * resolves to an Array of that many forks (1 to 64), made at once, all or
   * none.  `timeout`: idle timeout in seconds (default 300, 0: never).
   * `network`: the forks' egress policy; by default the one the checkpointed
   * sandbox had (a fork is a copy), `{}` for none.
   */
  static async createFromCheckpoint(checkpointId,
                                    { timeout, envs, metadata, count, network } = {}) {
    if (count === undefined || count === null) {
      return new Sandbox(await call(native.createFromCheckpoint, checkpointId, timeout, envs,
                                    metadata, null, network));
    }
    const handles = await call(native.fork, checkpointId, timeout, envs, metadata, count,
                               network);
    return handles.map((h) => new Sandbox(h));
  }

  /** A checkpoint, by id. */
  static async getCheckpoint(checkpointId) {
    return checkpointInfo(await call(native.checkpointGet, checkpointId));
  }

  /** Sandboxes that carry every key/value of `metadata`. */
  static async list({ metadata } = {}) {
    return (await call(native.list, metadata)).map(sandboxInfo);
  }

  /** 'running', 'hibernated', 'stopped' or 'error'. */
  status() {
    return call(native.status, this.#handle);
  }

  isRunning() {
    return call(native.isRunning, this.#handle);
  }

  async getInfo() {
    return sandboxInfo(await call(native.info, this.#handle));
  }

  /** Sets the idle timeout in seconds (0: never) and restarts the idle clock. */
  async setTimeout(timeout) {
    await call(native.setTimeout, this.#handle, timeout);
  }

  /**
   * Replaces the egress policy, {allowOut, denyOut, blockAll}, running or
   * hibernated; nullish or `{}` clears it.  The guest's new connections
   * follow it at once.  Entries: 'A.B.C.D', 'A.B.C.D/N' or a host name, each
   * optionally ':PORT'; a bad one is an InvalidArgumentError naming it, and
   * nothing changes.
   */
  async setNetwork(policy) {
    await call(native.setNetwork, this.#handle, policy);
  }

  /** The egress policy as set: {allowOut, denyOut, blockAll}. */
  async getNetwork() {
    return (await call(native.info, this.#handle)).network;
  }

  /**
   * Resolves to '127.0.0.1:N', a host address that reaches the guest's TCP
   * `port` (E2B's getHost): exposed on the first call, the same answer
   * after.  Each connection is carried to the guest's loopback by its agent,
   * and one to a hibernated sandbox wakes it.  The port is served by this
   * process as long as this object lives (see exposePort).
   */
  getHost(port) {
    return call(native.exposePort, this.#handle, port, 0);
  }

  /**
   * Exposes the guest's TCP `port` at 127.0.0.1:`hostPort` (default: any
   * free port) and resolves to '127.0.0.1:N'.  The listener stays until
   * unexposePort(), kill(), or this object is collected.  AlreadyExistsError
   * when hostPort is taken.
   */
  exposePort(port, { hostPort } = {}) {
    return call(native.exposePort, this.#handle, port, hostPort);
  }

  /** Closes the port's listener and its connections (NotFoundError when it
   * is not exposed through this object). */
  async unexposePort(port) {
    await call(native.unexposePort, this.#handle, port);
  }

  async hibernate() {
    await call(native.hibernate, this.#handle);
  }

  /** Restarts the guest from its disk (after a brief sync in it), as the SDK's reboot(). */
  async reboot() {
    await call(native.reboot, this.#handle);
  }

  /** As reboot() without waiting on the guest; also boots a hibernated sandbox from its disk. */
  async powerCycle() {
    await call(native.powerCycle, this.#handle);
  }

  /** Resolves to 'restored', 'cold-boot' or 'running' (it was). */
  wake({ timeout } = {}) {
    return call(native.wake, this.#handle, timeout);
  }

  async kill() {
    await call(native.kill, this.#handle);
  }

  /**
   * Checkpoints the sandbox (waking it if hibernated), which goes on after
   * a short pause.  `name`: a label (1 to 128 printable characters), not
   * unique.  The checkpoint outlives the sandbox.
   */
  async createCheckpoint(name) {
    return checkpointInfo(await call(native.checkpointCreate, this.#handle, name));
  }

  /** The checkpoints taken of this sandbox, oldest first. */
  async listCheckpoints() {
    return (await call(native.checkpointList, this.sandboxId)).map(checkpointInfo);
  }

  /**
   * Reverts this sandbox in place to a checkpoint (one with its cpu count
   * and memory): memory, processes and disk; its id, envs, metadata and
   * timeout stay.  Calls in flight fail.
   */
  async restoreCheckpoint(checkpointId) {
    await call(native.checkpointRestore, this.#handle, checkpointId);
  }

  /** Deletes a checkpoint (any, not only this sandbox's). */
  async deleteCheckpoint(checkpointId) {
    await call(native.checkpointDelete, checkpointId);
  }
}

/**
 * The options of the process's library context; call it before any other
 * call (a StateError once the context is open).  `poolSize`: sandboxes kept
 * ready per pooled template (0: no warm pool), which `Sandbox.create` with
 * the default cpu count and memory claims; `poolMemoryMB`: the memory the
 * pool may hold (default 2048); `poolTemplates`: default ['base'].  The
 * pool's unclaimed sandboxes are killed when the environment exits.
 * `requireKvm`: refuse to run without KVM (the first call that needs the
 * context rejects with an UnsupportedError) rather than under TCG
 * emulation, which is not a security boundary.
 */
export function configure({ poolSize, poolMemoryMB, poolTemplates, uri, stateDir, requireKvm } = {}) {
  try {
    native.configure({ poolSize, poolMemoryMB, poolTemplates, uri, stateDir, requireKvm });
  } catch (e) {
    throw mapError(e);
  }
}

/**
 * The templates of this host, in the shape of the SDK's Templates.  The
 * methods are static; an instance (`new Templates()`, whose arguments are
 * ignored: there is no server) has the same, as SDK code expects.
 */
export class Templates {
  /**
   * Builds template `name` (or a new version of it) and resolves to its
   * info.  The second argument is a Dockerfile's text (FROM, RUN, COPY, ENV,
   * WORKDIR, USER, ARG), as in the SDK, or options: `dockerfile`, or `steps`
   * ([{type: 'run'|'apt'|'copy'|'env'|'workdir'|'user'|'agent', args, execForm,
   * chown, chmod}]) on `parent` (default 'base'); `contextDir`, where COPY
   * sources are; `buildArgs`, {K: V} for ARGs; `onLog(line)`, each line of
   * the build's log ("[2/3] RUN ...", the step's output, "(cached)" for a
   * step whose layer was reused), all delivered before the Promise
   * settles; `cpuCount`, `memoryMB` of the build sandbox; `stepTimeout`
   * seconds per RUN or APT step (default 3600, 0: none).  Steps whose
   * layers are cached do not run again.  A failing step rejects with a
   * CommandError naming the step, its exit code and last lines of output,
   * and leaves no template behind; a bad name, step or Dockerfile line
   * rejects with an InvalidArgumentError before anything runs.
   */
  static async build(name, spec) {
    const opts = typeof spec === 'string' ? { dockerfile: spec } : (spec ?? {});
    const { dockerfile, contextDir, buildArgs, parent, cpuCount, memoryMB, stepTimeout,
            onLog } = opts;
    const steps = opts.steps?.map(buildStep);
    return templateInfo(await call(native.templateBuild, name,
      { dockerfile, steps, contextDir, buildArgs, parent, cpuCount, memoryMB, stepTimeout },
      onLog));
  }

  /** All of them, by name. */
  static async list() {
    return (await call(native.templateList)).map(templateInfo);
  }

  /** Rejects with a NotFoundError when there is no such template. */
  static async get(name) {
    return templateInfo(await call(native.templateGet, name));
  }

  /**
   * Deletes the template: its disk versions and ready snapshot.  Rejects
   * with a StateError, naming them, while sandboxes, checkpoints or other
   * templates build on it (its unclaimed warm pool sandboxes alone do not
   * hold it: they are killed with it).
   */
  static async delete(name) {
    await call(native.templateDelete, name);
  }

  /**
   * Makes template `name` of the root filesystem tarball at `tarPath`
   * (plain, gzip or xz; any glibc or musl userland with /bin/sh) and
   * resolves to its info, whose `importedFrom` names the tarball.
   * `prepare` (default true): also boot it once for its ready snapshot (a
   * template no sandbox starts from is not kept); false: the first create
   * boots it.  `onLog(line)`: its progress, all before the Promise settles.
   * Rejects with an AlreadyExistsError when the name is taken, a
   * NotFoundError for a missing file, an InvalidArgumentError for a bad
   * name, a file that is no tar or a tree without a shell; nothing is left
   * behind on error.
   */
  static async importRootfs(name, tarPath, { prepare = true, onLog } = {}) {
    return templateInfo(await call(native.templateImport, name, tarPath, { prepare }, onLog));
  }

  /**
   * Removes the build layers nothing needs (kept: those templates' disks
   * were made from, those sandboxes, checkpoints or templates build on,
   * those made in the last `keepDays` days, default 7) and resolves to
   * {removed, bytesFreed, kept}.  Waits for a running build.
   */
  static async prune({ keepDays } = {}) {
    if (keepDays != null && !(Number.isInteger(keepDays) && keepDays >= 0)) {
      throw new RangeError(`keepDays is ${keepDays}: give a whole number of days, 0 or more`);
    }
    return call(native.templatePrune, keepDays);
  }

  build(name, spec) { return Templates.build(name, spec); }
  list() { return Templates.list(); }
  get(name) { return Templates.get(name); }
  delete(name) { return Templates.delete(name); }
  importRootfs(name, tarPath, opts) { return Templates.importRootfs(name, tarPath, opts); }
  prune(opts) { return Templates.prune(opts); }
}

/**
 * Builds the template's ready snapshot (a cold boot and a save) if it is
 * missing or stale; `Sandbox.create` with the default sizes then forks it
 * instead of booting.  Resolves to true if it built one.
 */
export function prepareTemplate(template = 'base') {
  return call(native.templatePrepare, template);
}

/** Whether the template has a fresh ready snapshot. */
export function templateSnapshotReady(template = 'base') {
  return call(native.templateSnapshotReady, template);
}

/**
 * The template's warm pool: `ready` unclaimed sandboxes on this host (of
 * any process), `target` how many this process keeps (0 without a pool).
 */
export function poolStatus(template = 'base') {
  return call(native.poolStatus, template);
}

export default Sandbox;
