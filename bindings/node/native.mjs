// native.mjs: what the modules of the Node binding share: the addon, the
// error classes that map its codes, and the call wrapper that rejects with
// them.
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

export const native = loadAddon();

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
/** The sandbox is in the wrong state for this, or what is to be deleted is still in use (OC_ESTATE). */
export class StateError extends SandboxError {}
/** The operation did not finish in time (OC_ETIMEOUT). */
export class TimeoutError extends SandboxError {}
/** A size or count limit was hit (OC_ELIMIT). */
export class LimitError extends SandboxError {}
/** It already exists (OC_EEXISTS). */
export class AlreadyExistsError extends SandboxError {}
/** Permission denied (OC_EPERM). */
export class PermissionDeniedError extends SandboxError {}
/**
 * A command run for the call failed, e.g. a template build's step
 * (OC_ECOMMAND); the message names it and quotes its exit code and last
 * lines of output.
 */
export class CommandError extends SandboxError {}
/** Not supported by this host, guest or version (OC_EUNSUPPORTED). */
export class UnsupportedError extends SandboxError {}

const BY_CODE = new Map([
  [-1, InvalidArgumentError],
  [-2, NotFoundError],
  [-3, StateError],
  [-4, TimeoutError],
  [-8, LimitError],
  [-9, AlreadyExistsError],
  [-10, UnsupportedError],
  [-13, PermissionDeniedError],
  [-15, CommandError],
]);

export function errorFor(code, message) {
  const Cls = BY_CODE.get(code) ?? SandboxError;
  return new Cls(message, code);
}

// The addon rejects with an Error carrying a numeric `code`; argument type
// errors (TypeError) pass through unchanged.
export function mapError(e) {
  if (e instanceof Error && typeof e.code === 'number' && !(e instanceof SandboxError)) {
    return errorFor(e.code, e.message);
  }
  return e;
}

export async function call(fn, ...args) {
  try {
    return await fn(...args);
  } catch (e) {
    throw mapError(e);
  }
}

/**
 * Calls on one handle that must reach it in the order made: each waits for
 * the one before it to settle, failed or not.
 */
export function inOrder() {
  let tail = Promise.resolve();
  return (fn, ...args) => {
    const p = tail.then(() => call(fn, ...args));
    tail = p.catch(() => {});
    return p;
  };
}

// Session ids are strings in the SDK and numbers in the library.
export function sessionNumber(sessionId) {
  return typeof sessionId === 'string' ? Number(sessionId) : sessionId;
}


// The events of a session's thread-safe function (stream.h).
export const STDOUT = 1;
export const STDERR = 2;
export const REPLAY_END = 3;
export const END = 4;
export const GAP = 5;
export const EVENT = 6;
