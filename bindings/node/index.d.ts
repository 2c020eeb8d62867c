// index.d.ts: types of the Node binding of libopencomputer.

export class SandboxError extends Error {
  /** The OC_E* value: -1 invalid argument, -2 not found, -3 state, -4 timeout, ... */
  readonly code: number;
  constructor(message: string, code?: number);
}
export class InvalidArgumentError extends SandboxError {}
export class NotFoundError extends SandboxError {}
export class StateError extends SandboxError {}
export class TimeoutError extends SandboxError {}
export class LimitError extends SandboxError {}
export class AlreadyExistsError extends SandboxError {}
export class PermissionDeniedError extends SandboxError {}

export type SandboxState = 'running' | 'hibernated' | 'stopped' | 'error';
export type WakeKind = 'restored' | 'cold-boot' | 'running';

export interface SandboxOpts {
  /** Default 'base'. */
  template?: string;
  /** Idle timeout in seconds; default 300; 0: never. */
  timeout?: number;
  /** 1-4, default 1. */
  cpuCount?: number;
  /** 128-2048, default 512. */
  memoryMB?: number;
  /** Set for every exec. */
  envs?: Record<string, string>;
  /** Stored with the sandbox; `Sandbox.list` filters on it. */
  metadata?: Record<string, string>;
}

export interface SandboxInfo {
  sandboxId: string;
  status: SandboxState;
  templateId: string;
  startedAt: Date | null;
  /** When the idle timeout expires if nothing happens; null if never or not running. */
  endAt: Date | null;
  cpuCount: number;
  memoryMB: number;
  timeout: number;
  accelerator: 'kvm' | 'tcg';
  lastWake: 'restored' | 'cold-boot' | null;
  metadata: Record<string, string>;
  envs: Record<string, string>;
}

export interface RunOpts {
  /** If set, run the command directly with these arguments, without a shell. */
  args?: string[];
  /** Override the sandbox's envs. */
  env?: Record<string, string>;
  /** Default /root. */
  cwd?: string;
  /** Seconds; default 60; 0: none.  A timed out command is a result (timedOut). */
  timeout?: number;
  stdin?: string | Uint8Array;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** 0 if the command exited. */
  signal: number;
  timedOut: boolean;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
}

export interface EntryInfo {
  name: string;
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  isDir: boolean;
  size: number;
  mode: number;
  modifiedAt: Date;
  linkTarget: string | null;
}

export class Exec {
  private constructor();
  run(cmd: string, opts?: RunOpts): Promise<ExecResult>;
}

export class Files {
  private constructor();
  read(path: string): Promise<string>;
  readBytes(path: string): Promise<Buffer>;
  write(path: string, data: string | Uint8Array): Promise<void>;
  list(path: string): Promise<EntryInfo[]>;
  makeDir(path: string): Promise<void>;
  remove(path: string, opts?: { recursive?: boolean }): Promise<void>;
  exists(path: string): Promise<boolean>;
  stat(path: string): Promise<EntryInfo>;
  rename(oldPath: string, newPath: string): Promise<void>;
}

export class Sandbox {
  private constructor();
  readonly sandboxId: string;
  readonly exec: Exec;
  /** @deprecated use `exec` */
  readonly commands: Exec;
  readonly files: Files;

  static create(opts?: SandboxOpts): Promise<Sandbox>;
  static connect(sandboxId: string): Promise<Sandbox>;
  static list(opts?: { metadata?: Record<string, string> }): Promise<SandboxInfo[]>;

  status(): Promise<SandboxState>;
  isRunning(): Promise<boolean>;
  getInfo(): Promise<SandboxInfo>;
  /** Seconds; 0: never.  Restarts the idle clock. */
  setTimeout(timeout: number): Promise<void>;
  hibernate(): Promise<void>;
  wake(opts?: { timeout?: number }): Promise<WakeKind>;
  kill(): Promise<void>;
}

export default Sandbox;
