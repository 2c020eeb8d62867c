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
export class UnsupportedError extends SandboxError {}
/** A command run for the call failed, e.g. a template build's step (code -15): the message names it, its exit code and last lines of output. */
export class CommandError extends SandboxError {}

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
  /** Egress policy; default none. */
  network?: NetworkPolicy;
}

/**
 * Which destinations the guest may connect or send to, enforced on the host.
 * Entries: 'A.B.C.D', 'A.B.C.D/N' or a host name (resolved on the host when
 * set and at each VM start), each optionally ':PORT'.  '10.0.2.2' is the host.
 */
export interface NetworkPolicy {
  /** Always allowed. */
  allowOut?: string[];
  /** Denied (the most specific entry decides). */
  denyOut?: string[];
  /** Deny whatever allowOut does not name (also implied by a non-empty allowOut). */
  blockAll?: boolean;
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
  /**
   * How it was made: a cold boot, a fork of its template's ready snapshot,
   * claimed from the warm pool, or a fork of a checkpoint.
   */
  origin: 'boot' | 'snapshot' | 'pool' | 'checkpoint';
  /** The checkpoint it was forked or last restored from. */
  checkpoint: string | null;
  /**
   * Why it is in its status, with what to do, when the status alone does
   * not say (its QEMU process was killed, a disk error, a guest crash).
   */
  reason: string | null;
  /** The egress policy as set. */
  network: Required<NetworkPolicy>;
}

export interface CheckpointInfo {
  /** "cp-..." */
  id: string;
  name: string;
  /** The sandbox it was taken of. */
  sandboxId: string;
  template: string;
  createdAt: Date;
  /** Memory image plus disk. */
  sizeBytes: number;
  cpuCount: number;
  memoryMB: number;
}

export interface CreateFromCheckpointOpts {
  /** Idle timeout in seconds; default 300; 0: never. */
  timeout?: number;
  envs?: Record<string, string>;
  metadata?: Record<string, string>;
  /** Default: the checkpointed sandbox's policy; `{}`: none. */
  network?: NetworkPolicy;
}

export interface ContextOpts {
  /** Sandboxes kept ready per pooled template; 0 (default): no warm pool. */
  poolSize?: number;
  /** The memory the pool may hold; default 2048. */
  poolMemoryMB?: number;
  /** Default ['base']. */
  poolTemplates?: string[];
  /** libvirt URI; default qemu:///system. */
  uri?: string;
  /** Default $OC_STATE_DIR or /var/lib/opencomputer. */
  stateDir?: string;
  /** Refuse to run without KVM (UnsupportedError) instead of under TCG, which is not a security boundary. */
  requireKvm?: boolean;
}

export interface PoolStatus {
  /** Unclaimed pool sandboxes of the template on this host (of any process). */
  ready: number;
  /** How many this process keeps; 0 without a pool. */
  target: number;
}

/** The options of the process's library context, before any other call (StateError after). */
export function configure(opts?: ContextOpts): void;
/** Builds the template's ready snapshot if missing or stale; true if it built one. */
export function prepareTemplate(template?: string): Promise<boolean>;
export function templateSnapshotReady(template?: string): Promise<boolean>;
export function poolStatus(template?: string): Promise<PoolStatus>;

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

/** What output callbacks get: a Buffer, or a string when `encoding` is set. */
export type Chunk<E extends string | undefined> = E extends string ? string : Buffer;

/** Callbacks of a followed session; they run on the main thread, in order. */
export interface FollowOpts<E extends string | undefined = undefined> {
  onStdout?: (data: Chunk<E>) => void;
  onStderr?: (data: Chunk<E>) => void;
  /** The scrollback (what the session still holds) has been delivered; what follows is live. */
  onScrollbackEnd?: () => void;
  /** The process exited (128+signal if a signal ended it); not called when following ends otherwise. */
  onExit?: (exitCode: number) => void;
  /**
   * `skipped` bytes of `stream` (1: stdout, 2: stderr, as file descriptors)
   * will not come: the session's 1 MiB scrollback had dropped them when this
   * attached, or the callbacks took no output for over a second while more
   * came.  Called just before the output that follows the gap; received plus
   * skipped bytes are all the process wrote.  Without it, gaps pass silently.
   */
  onGap?: (stream: 1 | 2, skipped: number) => void;
  /** Decode output (e.g. 'utf8', as a stream) and pass strings instead of Buffers. */
  encoding?: E;
}

export interface ExecStartOpts<E extends string | undefined = undefined> extends FollowOpts<E> {
  /** If set, run the command directly with these arguments, without a shell. */
  args?: string[];
  env?: Record<string, string>;
  /** Default /root. */
  cwd?: string;
  /** Seconds; default: none. */
  timeout?: number;
}

export interface PtyOpts<E extends string | undefined = undefined> {
  /** Default 80 x 24. */
  cols?: number;
  rows?: number;
  /** Default /bin/bash as a login shell; may carry arguments. */
  shell?: string;
  /** TERM defaults to xterm-256color. */
  env?: Record<string, string>;
  cwd?: string;
  /** What the terminal shows, echoed keystrokes included. */
  onOutput?: (data: Chunk<E>) => void;
  encoding?: E;
}

export interface ShellOpts {
  env?: Record<string, string>;
  cwd?: string;
}

export interface ExecSessionInfo {
  sessionID: string;
  sandboxID: string;
  /** The command line, or the arguments joined by spaces. */
  command: string;
  running: boolean;
  /** Once not running: the exit status (128+signal if killed). */
  exitCode?: number;
  /** The signal that ended it; 0 if none. */
  signal: number;
  /** 0: it could not be started. */
  pid: number;
  startedAt: Date;
}

/**
 * A session this process follows.  While following, it keeps the process
 * alive; `close()` stops following (the process in the sandbox goes on).
 */
export class ExecSession {
  private constructor();
  readonly sessionId: string;
  /** Whether the session runs on a terminal (`pty.create`). */
  readonly isPty: boolean;
  /**
   * The exit code (128+signal if a signal ended it).  Rejects with a
   * SandboxError after close() (code -12), or when following ends otherwise
   * (the sandbox was hibernated or killed).
   */
  readonly done: Promise<number>;
  /** Writes stay in order; fire and forget is fine, await it for errors or backpressure. */
  sendStdin(data: string | Uint8Array): Promise<void>;
  /** Keystrokes to a terminal (the same as sendStdin). */
  send(data: string | Uint8Array): Promise<void>;
  /** Closes stdin; a terminal gets its end-of-file key. */
  closeStdin(): Promise<void>;
  /** A terminal session's size. */
  resize(cols: number, rows: number): Promise<void>;
  /** Signals the session's process group; default SIGKILL (9). */
  kill(signal?: number): Promise<void>;
  close(): void;
}

/** A terminal session: keystrokes with `send`, size with `resize`. */
export type PtySession = ExecSession;

/** A bash session whose state persists between runs; one run at a time. */
export class Shell {
  private constructor();
  readonly sessionId: string;
  /**
   * Rejects with a StateError when another run is in progress (shell busy)
   * or the shell has ended; with a TimeoutError (and the shell killed) after
   * `timeout` seconds (default 60; 0: none).
   */
  run(cmd: string, opts?: { timeout?: number }): Promise<ExecResult>;
  close(): Promise<void>;
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
  /** Starts a background session and follows it from its first byte. */
  start<E extends string | undefined = undefined>(cmd: string, opts?: ExecStartOpts<E>): Promise<ExecSession>;
  background<E extends string | undefined = undefined>(cmd: string, opts?: ExecStartOpts<E>): Promise<ExecSession>;
  /** Follows a session: its scrollback, then `onScrollbackEnd`, then live output. */
  attach<E extends string | undefined = undefined>(sessionId: string | number, opts?: FollowOpts<E>): Promise<ExecSession>;
  list(): Promise<ExecSessionInfo[]>;
  /** Default signal: SIGKILL. */
  kill(sessionId: string | number, signal?: number): Promise<void>;
  shell(opts?: ShellOpts): Promise<Shell>;
}

export class Pty {
  private constructor();
  create<E extends string | undefined = undefined>(opts?: PtyOpts<E>): Promise<PtySession>;
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
  readonly pty: Pty;
  /** Agent sessions: a coding agent program inside the sandbox, streaming JSON-line events. */
  readonly agent: SandboxAgent;

  static create(opts?: SandboxOpts): Promise<Sandbox>;
  static connect(sandboxId: string): Promise<Sandbox>;
  static list(opts?: { metadata?: Record<string, string> }): Promise<SandboxInfo[]>;
  /** A fork of the checkpoint; with `count`, an Array of that many (1 to 64), made at once. */
  static createFromCheckpoint(checkpointId: string, opts?: CreateFromCheckpointOpts & { count?: undefined }): Promise<Sandbox>;
  static createFromCheckpoint(checkpointId: string, opts: CreateFromCheckpointOpts & { count: number }): Promise<Sandbox[]>;
  static getCheckpoint(checkpointId: string): Promise<CheckpointInfo>;

  status(): Promise<SandboxState>;
  isRunning(): Promise<boolean>;
  getInfo(): Promise<SandboxInfo>;
  /** Seconds; 0: never.  Restarts the idle clock. */
  setTimeout(timeout: number): Promise<void>;
  /** Replaces the egress policy (running or hibernated); nullish or `{}` clears it. */
  setNetwork(policy: NetworkPolicy | null | undefined): Promise<void>;
  /** The egress policy as set. */
  getNetwork(): Promise<Required<NetworkPolicy>>;
  /** '127.0.0.1:N', a host address that reaches the guest's TCP port (exposed on the
   * first call, the same answer after); a connection to a hibernated sandbox wakes it. */
  getHost(port: number): Promise<string>;
  /** Exposes the guest's port at 127.0.0.1:hostPort (default: any free port). */
  exposePort(port: number, opts?: { hostPort?: number }): Promise<string>;
  unexposePort(port: number): Promise<void>;
  hibernate(): Promise<void>;
  /** Restarts the guest from its disk (after a brief sync in it): processes and memory go,
   * files, id and settings stay.  Rejects for a sandbox that is not running. */
  reboot(): Promise<void>;
  /** As reboot() without waiting on the guest; also boots a hibernated sandbox from its disk. */
  powerCycle(): Promise<void>;
  wake(opts?: { timeout?: number }): Promise<WakeKind>;
  kill(): Promise<void>;
  /** The sandbox goes on after a short pause; the checkpoint outlives it. */
  createCheckpoint(name: string): Promise<CheckpointInfo>;
  /** This sandbox's checkpoints, oldest first. */
  listCheckpoints(): Promise<CheckpointInfo[]>;
  /** Reverts memory, processes and disk in place; id, envs, metadata and timeout stay. */
  restoreCheckpoint(checkpointId: string): Promise<void>;
  deleteCheckpoint(checkpointId: string): Promise<void>;
}

/** A template: the root filesystem sandboxes start from. */
export interface TemplateInfo {
  /** The SDK's id: the name. */
  templateID: string;
  name: string;
  /** Always 'latest': templates have versions, not tags. */
  tag: string;
  /** Always 'ready': a template that exists can start sandboxes. */
  status: string;
  /** The template it was built from; null for one built from a root filesystem (such as base). */
  parent: string | null;
  createdAt: Date;
  /** Its disk's size. */
  sizeBytes: number;
  /** What its own files (disk versions, ready snapshot) take on the host. */
  diskBytes: number;
  /** How it was built from its parent, a line a step. */
  steps: string[];
  /** The root filesystem tarball it was imported from (absolute); null for one built or made otherwise. */
  importedFrom: string | null;
  /** Defaults of its sandboxes: "K=V" environment, exec's directory and user (null: none). */
  env: string[];
  workdir: string | null;
  user: string | null;
  /** The agent program and its arguments its agent sessions run by default; null: the reference runner. */
  agent: string[] | null;
}

/** One step of a build without a Dockerfile. */
export interface BuildStep {
  /** run: a command line for /bin/sh -c (or argv with execForm); apt: Debian package names;
   * copy: sources relative to contextDir, then the destination; env: [KEY, VALUE];
   * workdir: [absolute path]; user: [USER[:GROUP]]; agent: [program path, its arguments...] */
  type: 'run' | 'apt' | 'copy' | 'env' | 'workdir' | 'user' | 'agent';
  /** A string is one argument. */
  args: string | string[];
  /** run: args are the program and its arguments, run without a shell. */
  execForm?: boolean;
  /** copy: USER[:GROUP] of what is copied (default root). */
  chown?: string;
  /** copy: permission bits of what is copied (default: the sources'). */
  chmod?: number;
}

export interface TemplateBuildOpts {
  /** Dockerfile text (FROM, RUN, COPY, ENV, WORKDIR, USER, ARG); or give steps. */
  dockerfile?: string;
  steps?: BuildStep[];
  /** Without a Dockerfile: the template to build on (default 'base'). */
  parent?: string;
  /** Where COPY sources are (on this host); without it nothing can be copied. */
  contextDir?: string;
  /** Values of the Dockerfile's ARGs. */
  buildArgs?: Record<string, string>;
  /** Each line of the build's log ("[2/3] RUN ...", output, "... (cached)"), all before the Promise settles. */
  onLog?: (line: string) => void;
  /** Of the build sandbox. */
  cpuCount?: number;
  memoryMB?: number;
  /** Seconds per RUN or APT step (default 3600, 0: none). */
  stepTimeout?: number;
}

export interface TemplateImportOpts {
  /** Also boot it once for its ready snapshot (default true); false: the first create boots it. */
  prepare?: boolean;
  /** Each line of the import's progress, all before the Promise settles. */
  onLog?: (line: string) => void;
}

export interface TemplatePruneOpts {
  /** Layers made in the last keepDays days are kept (default 7; 0: none kept for their age). */
  keepDays?: number;
}

/** What a prune of the build layer cache did. */
export interface TemplatePruneResult {
  /** The layers removed. */
  removed: number;
  /** What they took on the host. */
  bytesFreed: number;
  /** The layers left. */
  kept: number;
}

/** The templates of this host in the SDK's shape; the methods are also static. */
export class Templates {
  /** Arguments are ignored (there is no server): for code written against the SDK. */
  constructor(...ignored: unknown[]);
  /**
   * Builds the template (or a new version of it); unchanged steps come from the layer cache.
   * A failing step rejects with a CommandError and leaves no template; a bad name, step or
   * Dockerfile line with an InvalidArgumentError before anything runs.
   */
  static build(name: string, dockerfile: string | TemplateBuildOpts): Promise<TemplateInfo>;
  build(name: string, dockerfile: string | TemplateBuildOpts): Promise<TemplateInfo>;
  /** All of them, by name. */
  static list(): Promise<TemplateInfo[]>;
  /** Rejects with a NotFoundError when there is no such template. */
  static get(name: string): Promise<TemplateInfo>;
  /** Rejects with a StateError, naming them, while sandboxes, checkpoints or other templates build on it. */
  static delete(name: string): Promise<void>;
  /**
   * Makes a template of a root filesystem tarball (plain, gzip or xz; any glibc or musl userland
   * with /bin/sh). Rejects with an AlreadyExistsError when the name is taken, a NotFoundError for
   * a missing file, an InvalidArgumentError for a bad name, a non-tar or a tree without a shell.
   */
  static importRootfs(name: string, tarPath: string, opts?: TemplateImportOpts): Promise<TemplateInfo>;
  /** Removes the build layers nothing needs (not those templates, sandboxes or checkpoints use). */
  static prune(opts?: TemplatePruneOpts): Promise<TemplatePruneResult>;
  list(): Promise<TemplateInfo[]>;
  get(name: string): Promise<TemplateInfo>;
  delete(name: string): Promise<void>;
  importRootfs(name: string, tarPath: string, opts?: TemplateImportOpts): Promise<TemplateInfo>;
  prune(opts?: TemplatePruneOpts): Promise<TemplatePruneResult>;
}

export interface SandboxAgentEvent {
  type: 'ready' | 'configured' | 'assistant' | 'result' | 'system' | 'tool_use_summary' |
    'turn_complete' | 'interrupted' | 'error' | string;
  [key: string]: unknown;
}

export interface McpServerConfig {
  command: string;
  args?: string[];
  env?: Record<string, string>;
}

/** Settings, sent as {"type":"configure", ...}: what the program does with them is its business. */
export interface SandboxAgentConfig {
  model?: string;
  systemPrompt?: string;
  allowedTools?: string[];
  permissionMode?: string;
  maxTurns?: number;
  /** Also the program's working directory when given to start. */
  cwd?: string;
  mcpServers?: Record<string, McpServerConfig>;
  resume?: string;
}

export interface SandboxAgentCallbacks {
  /** Each event, parsed; a line that is not a JSON object comes as {type: 'error', source: 'host', raw}. */
  onEvent?: (event: SandboxAgentEvent) => void;
  /** The program's stderr, and 'non-JSON stdout: LINE' for a line that is not JSON. */
  onError?: (data: string) => void;
  /** The exit code, or -1 when the following ended otherwise (close, hibernate). */
  onExit?: (exitCode: number) => void;
  /** After an attach's history, before live events. */
  onScrollbackEnd?: () => void;
}

export interface SandboxAgentStartOpts extends SandboxAgentConfig, SandboxAgentCallbacks {
  /** The first prompt. */
  prompt?: string;
  /** The agent program's absolute path in the sandbox (default /usr/local/bin/oc-agent-runner). */
  program?: string;
  args?: string[];
  envs?: Record<string, string>;
}

export interface SandboxAgentSession {
  sessionId: string;
  /** The exit code; -1 when the following ended otherwise. */
  done: Promise<number>;
  /** The commands reach the program in the order made; await one to learn of its failure. */
  sendPrompt(text: string): Promise<void>;
  interrupt(): Promise<void>;
  configure(config: SandboxAgentConfig): Promise<void>;
  /** Signals the program's process group (default SIGKILL). */
  kill(signal?: number): Promise<void>;
  /** Stops following; the program goes on. */
  close(): Promise<void>;
}

export interface SandboxAgentInfo {
  sessionID: string;
  sandboxID: string;
  running: boolean;
  /** ISO 8601 */
  startedAt: string;
  command: string;
  pid: number;
  signal: number;
  /** Once exited. */
  exitCode?: number;
}

/** `sandbox.agent`: the SDK's SandboxAgent. */
export class SandboxAgent {
  private constructor();
  start(opts?: SandboxAgentStartOpts): Promise<SandboxAgentSession>;
  /** Its history (what the scrollback holds), onScrollbackEnd, then live events. */
  attach(sessionId: string, opts?: SandboxAgentCallbacks): Promise<SandboxAgentSession>;
  /** Agent sessions only, running and exited. */
  list(): Promise<SandboxAgentInfo[]>;
}

export default Sandbox;
