"""sync.py: the blocking twin of the async API, for scripts.

    from opencomputer.sync import Sandbox
    with Sandbox.create() as sandbox:
        print(sandbox.exec.run("echo hello").stdout)

Streaming callbacks (on_stdout, on_stderr, on_gap, on_scrollback_end,
on_exit, on_output) run on a thread of the C library, one per session, not on the
caller's thread: one at a time and in order for a session, but concurrently
with the caller.  Keep them short (while one runs, no more output is taken
for that session) and guard what they share.  Output comes as bytes, or as
str when encoding= is given (decoded incrementally, undecodable bytes
replaced).

on_gap(stream, skipped) says that `skipped` bytes of stream 1 (stdout) or 2
(stderr) will not come: the session's 1 MiB scrollback had dropped them
when this attached, or the callbacks took no output for over a second while
more came.  It is called just before the output that follows the gap;
received plus skipped bytes are all the process wrote.  Without on_gap,
gaps pass silently.

configure(pool_size=...) sets the options of the process's library context
(a warm pool of ready sandboxes); call it before anything else.
"""
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from . import _agent, _checkpoint, _template
from ._checkpoint import Checkpoint, PoolStatus
from ._network import NetworkLike, NetworkPolicy, coerce
from ._template import (BuildStep, PruneResult, StepLike,  # noqa: F401 (BuildStep: re-exported)
                        TemplateInfo)
from ._core import (ExecResult, ExecSessionInfo, FileInfo, Handle, SandboxInfo, Shell as _Shell,
                    configure)  # noqa: F401 (configure: re-exported)
from ._stream import Follow, Stream

OutputFn = Callable[[Union[bytes, str]], None]


class _Closing:
    """`with` calls close() on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Following(_Closing):
    """A session this process follows.  Dropping the object or close()
    stops following; the process goes on."""

    def __init__(self, stream: Stream):
        self._stream = stream
        self.session_id = stream.session_id

    def wait(self, timeout: Optional[float] = None) -> int:
        """The exit code (128+signal if a signal ended it).  Raises the error
        that ended the following instead: SandboxError with code -12 after
        close(), another SandboxError if the connection was lost (sandbox
        hibernated or killed); TimeoutError if it is still running after
        timeout seconds."""
        return self._stream.wait(-1 if timeout is None else int(timeout * 1000))

    def close(self) -> None:
        """Stops following (detach): the process goes on and may be attached
        again."""
        self._stream.detach()


class ExecSession(_Following):
    """A session this process follows (exec.start, exec.attach).  Dropping
    the object or close() stops following; the process goes on."""

    @property
    def is_pty(self) -> bool:
        """Whether the session runs on a terminal (pty.create)."""
        return self._stream.is_pty

    def send_stdin(self, data: Union[str, bytes]) -> None:
        """Writes to the process's stdin; blocks while the sandbox holds 4 MiB
        the process has not read."""
        self._stream.send_stdin(data)

    def close_stdin(self) -> None:
        """Closes the process's stdin (a terminal gets its end-of-file key)."""
        self._stream.close_stdin()

    def kill(self, signal: int = 9) -> None:
        """Signals the session's process group (default SIGKILL)."""
        self._stream.signal(signal)

    def resize(self, cols: int, rows: int) -> None:
        """Sets a terminal session's size (InvalidArgumentError otherwise)."""
        self._stream.resize(cols, rows)


class PtySession(ExecSession):
    """A terminal session (pty.create): keystrokes go in with send()."""

    def send(self, data: Union[str, bytes]) -> None:
        self.send_stdin(data)


class Shell(_Closing):
    """A bash session whose working directory, exported variables,
    functions and aliases persist from one run() to the next (exec.shell).
    One command at a time: a run() while another is in progress fails at
    once with StateError (shell busy)."""

    def __init__(self, shell: _Shell):
        self._sh = shell
        self.session_id = shell.session_id

    def run(self, command: str, timeout: Optional[float] = None) -> ExecResult:
        """Runs command (stdin: /dev/null) and returns its output and exit
        code.  timeout in seconds (default 60, 0: none); a timeout kills the
        shell (TimeoutError), and so does a command that exits it
        (StateError): later runs fail with StateError."""
        return self._sh.run(command, timeout)

    def close(self) -> None:
        """Ends the shell; a run in progress fails."""
        self._sh.close()


def _stream(f: Follow) -> Stream:
    return Stream(f.stdout, f.stderr, f.replay_end, f.ended, f.gap)


class Exec:
    def __init__(self, handle: Handle):
        self._h = handle

    def run(self, command: str, *, args: Optional[Sequence[str]] = None,
            env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
            timeout: Optional[float] = None, stdin: Union[str, bytes, None] = None) -> ExecResult:
        """Runs command to completion: under /bin/sh -c, or directly with
        args.  timeout in seconds (default 60, 0: none).  A non-zero exit is
        not an error: look at exit_code."""
        return self._h.exec_run(command, args, env, cwd, timeout, stdin)

    def start(self, command: str, *, args: Optional[Sequence[str]] = None,
              env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
              timeout: Optional[float] = None, on_stdout: Optional[OutputFn] = None,
              on_stderr: Optional[OutputFn] = None,
              on_exit: Optional[Callable[[int], None]] = None,
              on_scrollback_end: Optional[Callable[[], None]] = None,
              on_gap: Optional[Callable[[int, int], None]] = None,
              encoding: Optional[str] = None) -> ExecSession:
        """Starts command as a background session and follows it: the
        callbacks get its output from the first byte, on_exit its exit code.
        timeout in seconds (default: none).  The session outlives this
        process; attach() follows it again."""
        s = _stream(Follow(on_stdout, on_stderr, on_scrollback_end, on_exit, encoding, on_gap))
        self._h.exec_spawn(s, command, args, env, cwd, timeout)
        return ExecSession(s)

    background = start

    def attach(self, session_id: int, *, on_stdout: Optional[OutputFn] = None,
               on_stderr: Optional[OutputFn] = None,
               on_exit: Optional[Callable[[int], None]] = None,
               on_scrollback_end: Optional[Callable[[], None]] = None,
               on_gap: Optional[Callable[[int, int], None]] = None,
               encoding: Optional[str] = None) -> ExecSession:
        """Follows a running session: first what its scrollback still holds,
        then on_scrollback_end, then live output.  on_gap(stream, skipped)
        comes first if the scrollback no longer holds the start (see the
        module's docstring)."""
        s = _stream(Follow(on_stdout, on_stderr, on_scrollback_end, on_exit, encoding, on_gap))
        self._h.exec_attach(s, session_id)
        return ExecSession(s)

    def list(self) -> List[ExecSessionInfo]:
        """The sandbox's sessions, running and exited."""
        return self._h.exec_list()

    def kill(self, session_id: int, signal: Optional[int] = None) -> None:
        """Signals a session's process group (default SIGKILL)."""
        self._h.exec_kill(session_id, signal)

    def shell(self, *, env: Optional[Dict[str, str]] = None,
              cwd: Optional[str] = None) -> Shell:
        """Opens a stateful shell (bash, without profile or rc files)."""
        return Shell(self._h.shell_open(env, cwd))


class Pty:
    def __init__(self, handle: Handle):
        self._h = handle

    def create(self, *, cols: Optional[int] = None, rows: Optional[int] = None,
               shell: Optional[str] = None, env: Optional[Dict[str, str]] = None,
               cwd: Optional[str] = None, on_output: Optional[OutputFn] = None,
               encoding: Optional[str] = None) -> PtySession:
        """Starts a program (default: bash -l) on a terminal of cols x rows
        (default 80 x 24) and follows it; on_output gets what the terminal
        shows, echoed keystrokes included."""
        s = _stream(Follow(on_output, None, None, None, encoding))
        self._h.pty_create(s, cols, rows, shell, env, cwd)
        return PtySession(s)


EventFn = Callable[[Dict[str, Any]], None]


class AgentSession(_Following):
    """An agent session this process follows (agent.start, agent.attach):
    the OpenComputer SDK's SandboxAgentSession.  `for event in session`
    gives its events (dicts) from the first one this handle saw until the
    program exits or close() is called, beside on_event.  Dropping the
    object or close() stops following; the program goes on.  A close()
    while another thread is in wait() ends that wait with SandboxError
    code -12 (cancelled)."""

    def __init__(self, handle: Handle, stream: _agent.AgentStream, follow: _agent.AgentFollow):
        super().__init__(stream)
        self._h = handle
        self._backlog = follow.backlog

    def send_prompt(self, text: str) -> None:
        """Writes {"type":"prompt","text":text} to the program's stdin."""
        self._stream.send_prompt(text)

    def interrupt(self) -> None:
        """Writes {"type":"interrupt"}: the program stops its turn."""
        self._stream.interrupt()

    def configure(self, config: Optional[Mapping[str, Any]] = None, **settings: Any) -> None:
        """Writes {"type":"configure", ...}: the settings as agent.start()
        names them (model=, system_prompt=, allowed_tools=, ...) or by the
        SDK's names in config ({"systemPrompt": ...}); other keys go to the
        program as they are."""
        self._stream.configure({**(config or {}), **settings})

    def kill(self, signal: Optional[int] = None) -> None:
        """Signals the program's process group (default SIGKILL)."""
        _agent.kill(self._h, self.session_id, signal)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        while True:
            event = self._backlog.take(True)
            if event is None:
                return
            yield event


class Agent:
    """sandbox.agent: agent sessions, programs that print JSON events and
    take JSON commands (docs/agent-sessions.md)."""

    def __init__(self, handle: Handle):
        self._h = handle

    def start(self, prompt: Optional[str] = None, *, model: Optional[str] = None,
              system_prompt: Optional[str] = None,
              allowed_tools: Optional[Sequence[str]] = None,
              permission_mode: Optional[str] = None, max_turns: Optional[int] = None,
              cwd: Optional[str] = None, mcp_servers: Optional[Mapping[str, Any]] = None,
              resume: Optional[str] = None, program: Optional[str] = None,
              args: Optional[Sequence[str]] = None, envs: Optional[Dict[str, str]] = None,
              on_event: Optional[EventFn] = None, on_error: Optional[Callable[[str], None]] = None,
              on_exit: Optional[Callable[[int], None]] = None,
              on_scrollback_end: Optional[Callable[[], None]] = None) -> AgentSession:
        """Starts the agent program and follows it from its first event:
        program (an absolute path in the sandbox) with args, or else the
        one the sandbox's template names (TemplateInfo.agent; args replace
        its arguments), or else the reference runner
        /usr/local/bin/oc-agent-runner; with envs.  The settings go to it
        as a first configure command, by the SDK's names (allowedTools,
        mcpServers, ...); cwd is also its working directory.  Then prompt,
        if given.  on_event gets every event as a dict; on_error the
        program's stderr and the lines that were not JSON objects (as
        'non-JSON stdout: LINE'; those also come to on_event as error
        events with "source": "host"); on_exit its exit code."""
        follow = _agent.AgentFollow(on_event, on_error, on_scrollback_end, on_exit)
        stream = _agent_stream(follow)
        _agent.start(self._h, stream, prompt, program, args, envs, _agent.settings_in(locals()))
        return AgentSession(self._h, stream, follow)

    def attach(self, session_id: int, *, on_event: Optional[EventFn] = None,
               on_error: Optional[Callable[[str], None]] = None,
               on_exit: Optional[Callable[[int], None]] = None,
               on_scrollback_end: Optional[Callable[[], None]] = None) -> AgentSession:
        """Follows an agent session, from this or another process: its
        history (the last 1 MiB of its events), on_scrollback_end, then live
        events.  NotFoundError if the sandbox has no such session."""
        follow = _agent.AgentFollow(on_event, on_error, on_scrollback_end, on_exit)
        stream = _agent_stream(follow)
        _agent.attach(self._h, stream, session_id)
        return AgentSession(self._h, stream, follow)

    def list(self) -> List[ExecSessionInfo]:
        """The sandbox's agent sessions, running and exited."""
        return _agent.list_of(self._h)

    def kill(self, session_id: int, signal: Optional[int] = None) -> None:
        """Signals an agent session's process group (default SIGKILL)."""
        _agent.kill(self._h, session_id, signal)


def _agent_stream(f: _agent.AgentFollow) -> _agent.AgentStream:
    return _agent.AgentStream(f.event, f.stderr, f.replay_end, f.ended)


class Files:
    def __init__(self, handle: Handle):
        self._h = handle

    def read(self, path: str) -> str:
        return self._h.files_read(path).decode('utf-8', 'replace')

    def read_bytes(self, path: str) -> bytes:
        return self._h.files_read(path)

    def write(self, path: str, data: Union[str, bytes]) -> None:
        """Creates or replaces the file atomically; the directory must exist."""
        self._h.files_write(path, data)

    def list(self, path: str) -> List[FileInfo]:
        return self._h.files_list(path)

    def make_dir(self, path: str) -> None:
        """mkdir -p."""
        self._h.files_mkdir(path)

    def remove(self, path: str, recursive: bool = True) -> None:
        self._h.files_remove(path, recursive)

    def exists(self, path: str) -> bool:
        return self._h.files_exists(path)

    def stat(self, path: str) -> FileInfo:
        return self._h.files_stat(path)

    def rename(self, old_path: str, new_path: str) -> None:
        self._h.files_rename(old_path, new_path)


class Sandbox:
    """A sandbox: a Linux VM.  Releasing the object never stops the VM;
    kill() does, and so does leaving a `with` block."""

    def __init__(self, handle: Handle):
        self._h = handle
        self.exec = Exec(handle)
        self.files = Files(handle)
        self.pty = Pty(handle)
        self.agent = Agent(handle)

    @classmethod
    def create(cls, template: Optional[str] = None, timeout: Optional[int] = None,
               envs: Optional[Dict[str, str]] = None, metadata: Optional[Dict[str, str]] = None,
               cpu_count: Optional[int] = None, memory_mb: Optional[int] = None,
               network: Optional[NetworkLike] = None) -> 'Sandbox':
        """timeout: idle timeout in seconds (default 300, 0: never).
        network: its egress policy (see set_network); default none."""
        return cls(Handle.create(template, timeout, envs, metadata, cpu_count, memory_mb,
                                 coerce(network)))

    @classmethod
    def connect(cls, sandbox_id: str) -> 'Sandbox':
        return cls(Handle.connect(sandbox_id))

    @classmethod
    def create_from_checkpoint(cls, checkpoint_id: str, timeout: Optional[int] = None,
                               envs: Optional[Dict[str, str]] = None,
                               metadata: Optional[Dict[str, str]] = None,
                               count: Optional[int] = None,
                               network: Optional[NetworkLike] = None
                               ) -> Union['Sandbox', List['Sandbox']]:
        """A new sandbox (a fork) that resumes from the checkpoint: its
        processes run on, its disk is its own, its hostname is its sandbox id
        and its RNG is reseeded; it has the checkpoint's cpu count and memory.
        With count=N: a list of N forks made at once (1 to 64), all or none.
        timeout: idle timeout in seconds (default 300, 0: never).
        network: the forks' egress policy; None (default) keeps the one the
        checkpointed sandbox had, NetworkPolicy() or {} gives none."""
        made = _checkpoint.fork(checkpoint_id, timeout, envs, metadata, count, coerce(network))
        return cls(made) if count is None else [cls(h) for h in made]

    @staticmethod
    def get_checkpoint(checkpoint_id: str) -> Checkpoint:
        return _checkpoint.get(checkpoint_id)

    @staticmethod
    def list(metadata: Optional[Dict[str, str]] = None) -> List[SandboxInfo]:
        return Handle.list(metadata)

    @property
    def sandbox_id(self) -> str:
        return self._h.sandbox_id

    @property
    def status(self) -> str:
        """'running', 'hibernated', 'stopped' or 'error', as of now."""
        return self._h.status()

    def is_running(self) -> bool:
        return self._h.is_running()

    def get_info(self) -> SandboxInfo:
        return self._h.info()

    def set_timeout(self, timeout: int) -> None:
        self._h.set_timeout(timeout)

    def set_network(self, network: Optional[NetworkLike] = None) -> None:
        """Replaces the egress policy, running or hibernated: a NetworkPolicy
        or a mapping of allow_out, deny_out, block_all (camelCase allowOut,
        denyOut, blockAll too); None or an empty one clears it.  The guest's
        new connections follow it at once.  A bad entry raises
        InvalidArgumentError naming it, and nothing changes."""
        self._h.set_network(coerce(network) or NetworkPolicy())

    def get_network(self) -> NetworkPolicy:
        """The egress policy as set."""
        return self._h.info().network

    def get_host(self, port: int) -> str:
        """'127.0.0.1:N', a host address that reaches the guest's TCP port
        (exposing it on the first call; the same answer after).  Each
        connection is carried to the guest's loopback by its agent, and one
        to a hibernated sandbox wakes it.  The port stays open as long as
        this object (see expose_port)."""
        return self._h.expose_port(port, 0)

    def expose_port(self, port: int, host_port: int = 0) -> str:
        """Exposes the guest's TCP port at 127.0.0.1:host_port (0: any free
        port) and returns '127.0.0.1:N'.  The listener is served by this
        process until unexpose_port(), kill(), or this object is collected.
        AlreadyExistsError when host_port is taken."""
        return self._h.expose_port(port, host_port)

    def unexpose_port(self, port: int) -> None:
        """Closes the port's listener and its connections (NotFoundError
        when it is not exposed through this object)."""
        self._h.unexpose_port(port)

    def hibernate(self) -> None:
        self._h.hibernate()

    def wake(self, timeout: Optional[int] = None) -> str:
        """Returns 'restored', 'cold-boot' or 'running' (it was not asleep)."""
        return self._h.wake(timeout)

    def reboot(self) -> None:
        """Restarts the guest from its disk (after a brief sync in it)."""
        self._h.reboot(False)

    def power_cycle(self) -> None:
        """As reboot() without waiting on the guest; also boots a hibernated
        sandbox from its disk."""
        self._h.reboot(True)

    def kill(self) -> None:
        self._h.kill()

    def create_checkpoint(self, name: str) -> Checkpoint:
        """Checkpoints the sandbox (waking it if hibernated), which goes on
        after a short pause.  name: a label (1 to 128 printable characters),
        not unique."""
        return _checkpoint.create(self._h, name)

    def list_checkpoints(self) -> List[Checkpoint]:
        """The checkpoints taken of this sandbox, oldest first."""
        return _checkpoint.list_of(self.sandbox_id)

    def restore_checkpoint(self, checkpoint_id: str) -> None:
        """Reverts this sandbox in place to the checkpoint (one with its cpu
        count and memory): memory, processes and disk; its id, envs,
        metadata and timeout stay.  Calls in flight fail."""
        _checkpoint.restore(self._h, checkpoint_id)

    def delete_checkpoint(self, checkpoint_id: str) -> None:
        """Deletes a checkpoint (any, not only this sandbox's): it can no
        longer be forked or restored."""
        _checkpoint.delete(checkpoint_id)

    def __enter__(self) -> 'Sandbox':
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


class Templates:
    """The templates of this host (the OpenComputer SDK's Templates):
    Templates.build(name, ...), Templates.list(), Templates.get(name),
    Templates.delete(name), Templates.import_rootfs(name, tar_path),
    Templates.prune()."""

    @staticmethod
    def build(name: str, dockerfile: Optional[str] = None, *,
              steps: Optional[Sequence[StepLike]] = None, context_dir: Optional[str] = None,
              build_args: Optional[Dict[str, str]] = None,
              on_log: Optional[Callable[[str], None]] = None, parent: Optional[str] = None,
              cpu_count: Optional[int] = None, memory_mb: Optional[int] = None,
              step_timeout: Optional[int] = None) -> TemplateInfo:
        """Builds template name ([a-z0-9][a-z0-9._-]{0,63}), or a new version
        of it, and returns it.  From a Dockerfile's text (FROM, RUN, COPY,
        ENV, WORKDIR, USER, ARG; build_args fill its ARGs) or from steps
        (BuildStep, or mappings of its fields) on parent (default 'base').
        COPY takes its sources from context_dir.  Each step that changes the
        disk is cached: a rebuild runs from the first step that changed
        (on_log says '(cached)' for the others).  on_log(line) gets the
        build's log, on this thread.  The template's ENV, WORKDIR and USER
        become its sandboxes' defaults.  A bad name, step or line raises
        InvalidArgumentError before anything starts; a failing step raises
        CommandError naming it, its exit code and its last lines of output,
        and leaves no template behind.  Minutes under TCG; one build at a
        time per state directory.  cpu_count, memory_mb: of the build's
        sandbox; step_timeout: seconds per RUN or APT step (default 3600, 0:
        none)."""
        return _template.build(name, dockerfile, steps, context_dir, build_args, on_log,
                               parent, cpu_count, memory_mb, step_timeout)

    @staticmethod
    def list() -> List[TemplateInfo]:
        """All of them, by name."""
        return _template.list_all()

    @staticmethod
    def get(name: str) -> TemplateInfo:
        """NotFoundError when there is no such template."""
        return _template.get(name)

    @staticmethod
    def delete(name: str) -> None:
        """Deletes the template: its disk versions and ready snapshot.
        StateError, naming them, while sandboxes, checkpoints or other
        templates build on it (its unclaimed warm pool sandboxes alone do
        not hold it: they are killed with it)."""
        _template.delete(name)

    @staticmethod
    def import_rootfs(name: str, tar_path: str, *, prepare: bool = True,
                      on_log: Optional[Callable[[str], None]] = None) -> TemplateInfo:
        """Makes template name of the root filesystem tarball tar_path
        (plain, gzip or xz; any glibc or musl userland with /bin/sh) and
        returns it; its imported_from names the tarball.  prepare: also
        boot it once for its ready snapshot (a template no sandbox starts
        from is not kept); False: the first create boots it.  on_log(line)
        gets the progress, on this thread.  AlreadyExistsError when the name
        is taken, NotFoundError for a missing file, InvalidArgumentError for
        a bad name, a file that is no tar or a tree without a shell; nothing
        is left behind on error."""
        return _template.import_rootfs(name, tar_path, prepare, on_log)

    @staticmethod
    def prune(keep_days: int = 7) -> PruneResult:
        """Removes the build layers nothing needs (kept: those templates'
        disks were made from, those sandboxes, checkpoints or templates build
        on, those made in the last keep_days days); waits for a running
        build."""
        return _template.prune(keep_days)


def prepare_template(template: str = 'base') -> bool:
    """Builds the template's ready snapshot (a cold boot and a save) if it is
    missing or stale; create() with the default sizes then forks it instead
    of booting.  True if it built one."""
    return _checkpoint.template_prepare(template)


def template_snapshot_ready(template: str = 'base') -> bool:
    """Whether the template has a fresh ready snapshot."""
    return _checkpoint.template_snapshot_ready(template)


def pool_status(template: str = 'base') -> PoolStatus:
    """The warm pool of the template (see configure())."""
    return _checkpoint.pool_status(template)
