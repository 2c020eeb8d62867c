// index.mjs: the Node binding of libopencomputer, in the @opencomputer/sdk
// shape.  Every call returns a Promise; the blocking C call runs on libuv's
// thread pool (oc_native.c), so the event loop keeps running.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

// OC_NODE_ADDON (the build tree's addon, for tests) wins over the addon
// installed next to this file.
function loadAddon() {
  const beside = fileURLToPath(new URL('./oc_native.node', import.meta.url));
  const path = process.env.OC_NODE_ADDON || beside;
  if (!existsSync(path)) {
    throw new Error(`oc_native.node not found at ${path}: build the library with meson ` +
                    '(ninja -C build) and set OC_NODE_ADDON to build/bindings/node/oc_native.node');
  }
  return require(path);
}

const native = loadAddon();

/** Any failure reported by libopencomputer; `code` is its OC_E* value. */
export class SandboxError extends Error {
  constructor(message, code = -14) {
    super(message);
    this.name = this.constructor.name;
    this.code = code;
  }
}
/** An argument is wrong; the message says which (OC_EINVAL). */
export class InvalidArgumentError extends SandboxError {}
/** No such sandbox, template or file (OC_ENOTFOUND). */
export class NotFoundError extends SandboxError {}
/** The sandbox is in the wrong state for this (OC_ESTATE). */
export class StateError extends SandboxError {}
/** The operation did not finish in time (OC_ETIMEOUT). */
export class TimeoutError extends SandboxError {}
/** A size or count limit was hit (OC_ELIMIT). */
export class LimitError extends SandboxError {}
/** It already exists (OC_EEXISTS). */
export class AlreadyExistsError extends SandboxError {}
/** Permission denied (OC_EPERM). */
export class PermissionDeniedError extends SandboxError {}

const BY_CODE = new Map([
  [-1, InvalidArgumentError],
  [-2, NotFoundError],
  [-3, StateError],
  [-4, TimeoutError],
  [-8, LimitError],
  [-9, AlreadyExistsError],
  [-13, PermissionDeniedError],
]);

// The addon rejects with an Error carrying a numeric `code`; argument type
// errors (TypeError) pass through unchanged.
function mapError(e) {
  if (e instanceof Error && typeof e.code === 'number' && !(e instanceof SandboxError)) {
    const Cls = BY_CODE.get(e.code) ?? SandboxError;
    return new Cls(e.message, e.code);
  }
  return e;
}

async function call(fn, ...args) {
  try {
    return await fn(...args);
  } catch (e) {
    throw mapError(e);
  }
}

function toDate(seconds) {
  return seconds ? new Date(seconds * 1000) : null;
}

function sandboxInfo(raw) {
  const { created, idleDeadline, ...rest } = raw;
  return { ...rest, startedAt: toDate(created), endAt: toDate(idleDeadline) };
}

function fileInfo(raw, dir) {
  const { mtimeMs, ...rest } = raw;
  const path = dir === undefined ? undefined : `${dir.replace(/\/+$/, '')}/${raw.name}`;
  return { ...rest, ...(path === undefined ? {} : { path }), modifiedAt: new Date(mtimeMs),
           isDir: raw.type === 'dir' };
}

const decoder = new TextDecoder();

/** Commands in a sandbox: `sandbox.exec` (and the deprecated `sandbox.commands`). */
export class Exec {
  #handle;

  constructor(handle) {
    this.#handle = handle;
  }

  /**
   * Runs a command to completion: under /bin/sh -c, or directly with `args`.
   * A non-zero exit or a timeout is a result, not an error.
   */
  run(cmd, { args, env, cwd, timeout, stdin } = {}) {
    const timeoutMs = timeout === undefined || timeout === null
      ? undefined : Math.round(timeout * 1000);
    return call(native.execRun, this.#handle, cmd, args, env, cwd, timeoutMs, stdin);
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
    this.exec = new Exec(handle);
    this.files = new Files(handle);
  }

  /** @deprecated use `exec` */
  get commands() {
    return this.exec;
  }

  /** Creates and boots a sandbox; resolves once its agent answers. */
  static async create({ template, timeout, cpuCount, memoryMB, envs, metadata } = {}) {
    return new Sandbox(await call(native.create,
      { template, timeout, cpuCount, memoryMB, envs, metadata }));
  }

  /** A handle on an existing sandbox, from any process. */
  static async connect(sandboxId) {
    return new Sandbox(await call(native.connect, sandboxId));
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

  async hibernate() {
    await call(native.hibernate, this.#handle);
  }

  /** Resolves to 'restored', 'cold-boot' or 'running' (it was). */
  wake({ timeout } = {}) {
    return call(native.wake, this.#handle, timeout);
  }

  async kill() {
    await call(native.kill, this.#handle);
  }
}

export default Sandbox;
