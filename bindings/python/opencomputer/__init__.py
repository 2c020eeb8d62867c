"""opencomputer: Linux sandboxes (VMs) from Python, on libopencomputer.

    import asyncio
    from opencomputer import Sandbox

    async def main():
        async with await Sandbox.create(timeout=600) as sandbox:
            result = await sandbox.exec.run("echo Hello from $(uname -a)")
            print(result.stdout)

    asyncio.run(main())

Every call runs the blocking C call in a worker thread (cffi releases the
GIL), so the event loop keeps running.  opencomputer.sync has the same API
without async.

Streaming callbacks (on_stdout, on_stderr, on_gap, on_scrollback_end,
on_exit, on_output) run on the event loop that started or attached the
session, in order; output comes as bytes, or as str when encoding= is given.
on_gap(stream, skipped): `skipped` bytes of stream 1 (stdout) or 2 (stderr)
will not come (see opencomputer.sync); it comes just before the output that
follows them.

Checkpoints: sandbox.create_checkpoint(name), then
Sandbox.create_from_checkpoint(checkpoint.id) (count=N: N forks at once) or
sandbox.restore_checkpoint(checkpoint.id).  configure(pool_size=...), before
any other call, keeps a warm pool of ready sandboxes that create() claims.

Egress: Sandbox.create(network={"allow_out": [...], "deny_out": [...],
"block_all": True}) (a NetworkPolicy, or a mapping with these keys or the
SDK's allowOut, denyOut, blockAll), await sandbox.set_network(...),
await sandbox.get_network().

Templates: await Templates.build(name, dockerfile or steps=[BuildStep...],
on_log=...), Templates.list(), Templates.get(name) (a TemplateInfo),
Templates.delete(name), Templates.import_rootfs(name, tar_path, prepare=...,
on_log=...) (a root filesystem tarball) and Templates.prune(keep_days=7)
(the build layer cache).

Agent sessions (docs/agent-sessions.md): await sandbox.agent.start(prompt=...,
on_event=...), then send_prompt(), interrupt(), configure(), kill(), close(),
`async for event in session`; sandbox.agent.attach(id), list(), kill(id).
"""
import asyncio
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _agent, sync
from ._checkpoint import Checkpoint, PoolStatus
from ._network import NetworkLike, NetworkPolicy
from ._template import BuildStep, PruneResult, StepLike, TemplateInfo
from ._core import ExecResult, ExecSessionInfo, FileInfo, Handle, SandboxInfo, configure
from ._stream import Follow, Stream
from .errors import (AlreadyExistsError, CommandError, InvalidArgumentError, LimitError,
                     NotFoundError, PermissionDeniedError, SandboxError, StateError,
                     TimeoutError, UnsupportedError)

__all__ = ['Sandbox', 'Agent', 'AgentSession', 'BuildStep', 'Checkpoint', 'ExecResult',
           'ExecSession', 'ExecSessionInfo', 'FileInfo', 'NetworkLike', 'NetworkPolicy',
           'PoolStatus', 'PruneResult', 'PtySession', 'SandboxInfo', 'Shell', 'TemplateInfo',
           'Templates',
           'configure', 'prepare_template', 'template_snapshot_ready', 'pool_status',
           'SandboxError', 'InvalidArgumentError', 'NotFoundError', 'StateError', 'TimeoutError',
           'LimitError', 'AlreadyExistsError', 'PermissionDeniedError', 'UnsupportedError',
           'CommandError']

_run = asyncio.to_thread
OutputFn = Callable[[Union[bytes, str]], None]
EventFn = Callable[[Dict[str, Any]], None]


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Optional[Callable]) -> Optional[Callable]:
    """fn, run on loop instead of the calling thread (the library's)."""
    if fn is None:
        return None

    def call(*args):
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is closed: nobody is listening any more
    return call


def _retrieved(fut: asyncio.Future) -> None:
    # done may fail (after close()) with nobody awaiting it: no warning
    if not fut.cancelled():
        fut.exception()


class _Following:
    """A session this task follows.  `done` resolves to the exit code
    (128+signal if a signal ended it); it fails with SandboxError (code -12)
    after close(), or with the error that ended the following (the sandbox
    was hibernated or killed)."""

    def __init__(self, follow: Follow):
        loop = asyncio.get_running_loop()
        self._follow = follow
        self._lock: Optional[asyncio.Lock] = None
        self.done: asyncio.Future = loop.create_future()
        self.done.add_done_callback(_retrieved)
        self._stream = self._make_stream(loop)
        self.session_id = 0

    def _make_stream(self, loop: asyncio.AbstractEventLoop) -> Stream:
        raise NotImplementedError

    def _opened(self):
        self.session_id = self._stream.session_id
        return self

    def _ended(self, status: int, exit_code: int) -> None:
        try:
            self._follow.ended(status, exit_code)
        finally:
            if not self.done.done():
                try:
                    # the handle has ended: this returns at once
                    self.done.set_result(self._stream.wait())
                except SandboxError as e:
                    self.done.set_exception(e)

    async def _in_order(self, fn, *args) -> None:
        # writes and resizes reach the session in the order they were made
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await _run(fn, *args)

    async def wait(self) -> int:
        return await asyncio.shield(self.done)

    def close(self) -> None:
        """Stops following (detach): the process goes on."""
        self._stream.detach()


class ExecSession(_Following):
    """A session this task follows (exec.start, exec.attach); see
    _Following for `done`."""

    def _make_stream(self, loop: asyncio.AbstractEventLoop) -> Stream:
        f = self._follow
        # all through call_soon_threadsafe, so they keep their order
        return Stream(_on_loop(loop, f.stdout), _on_loop(loop, f.stderr),
                      _on_loop(loop, f.replay_end), _on_loop(loop, self._ended),
                      _on_loop(loop, f.gap))

    @property
    def is_pty(self) -> bool:
        """Whether the session runs on a terminal (pty.create)."""
        return self._stream.is_pty

    async def send_stdin(self, data: Union[str, bytes]) -> None:
        await self._in_order(self._stream.send_stdin, data)

    async def close_stdin(self) -> None:
        await self._in_order(self._stream.close_stdin)

    async def resize(self, cols: int, rows: int) -> None:
        await self._in_order(self._stream.resize, cols, rows)

    async def kill(self, signal: int = 9) -> None:
        """Signals the session's process group (default SIGKILL)."""
        await _run(self._stream.signal, signal)


class PtySession(ExecSession):
    """A terminal session (pty.create): keystrokes go in with send()."""

    async def send(self, data: Union[str, bytes]) -> None:
        await self.send_stdin(data)


class Shell:
    """A stateful shell (see opencomputer.sync.Shell); `async with` closes
    it."""

    def __init__(self, s: sync.Shell):
        self._s = s
        self.session_id = s.session_id

    async def run(self, command: str, timeout: Optional[float] = None) -> ExecResult:
        return await _run(self._s.run, command, timeout)

    async def close(self) -> None:
        await _run(self._s.close)

    async def __aenter__(self) -> 'Shell':
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class Exec:
    def __init__(self, s: sync.Exec):
        self._s = s
        self._h = s._h

    async def run(self, command: str, *, args: Optional[Sequence[str]] = None,
                  env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                  timeout: Optional[float] = None,
                  stdin: Union[str, bytes, None] = None) -> ExecResult:
        return await _run(self._s.run, command, args=args, env=env, cwd=cwd, timeout=timeout,
                          stdin=stdin)

    async def start(self, command: str, *, args: Optional[Sequence[str]] = None,
                    env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                    timeout: Optional[float] = None, on_stdout: Optional[OutputFn] = None,
                    on_stderr: Optional[OutputFn] = None,
                    on_exit: Optional[Callable[[int], None]] = None,
                    on_scrollback_end: Optional[Callable[[], None]] = None,
                    on_gap: Optional[Callable[[int, int], None]] = None,
                    encoding: Optional[str] = None) -> ExecSession:
        """Starts command as a background session and follows it (see
        opencomputer.sync.Exec.start)."""
        session = ExecSession(Follow(on_stdout, on_stderr, on_scrollback_end, on_exit, encoding,
                                     on_gap))
        await _run(self._h.exec_spawn, session._stream, command, args, env, cwd, timeout)
        return session._opened()

    background = start

    async def attach(self, session_id: int, *, on_stdout: Optional[OutputFn] = None,
                     on_stderr: Optional[OutputFn] = None,
                     on_exit: Optional[Callable[[int], None]] = None,
                     on_scrollback_end: Optional[Callable[[], None]] = None,
                     on_gap: Optional[Callable[[int, int], None]] = None,
                     encoding: Optional[str] = None) -> ExecSession:
        """Follows a running session: its scrollback (after on_gap if it no
        longer holds the start), on_scrollback_end, then live output."""
        session = ExecSession(Follow(on_stdout, on_stderr, on_scrollback_end, on_exit, encoding,
                                     on_gap))
        await _run(self._h.exec_attach, session._stream, session_id)
        return session._opened()

    async def list(self) -> List[ExecSessionInfo]:
        return await _run(self._s.list)

    async def kill(self, session_id: int, signal: Optional[int] = None) -> None:
        await _run(self._s.kill, session_id, signal)

    async def shell(self, *, env: Optional[Dict[str, str]] = None,
                    cwd: Optional[str] = None) -> Shell:
        """Opens a stateful shell (see opencomputer.sync.Exec.shell)."""
        return Shell(await _run(self._s.shell, env=env, cwd=cwd))


class Pty:
    def __init__(self, s: sync.Pty):
        self._h = s._h

    async def create(self, *, cols: Optional[int] = None, rows: Optional[int] = None,
                     shell: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                     cwd: Optional[str] = None, on_output: Optional[OutputFn] = None,
                     encoding: Optional[str] = None) -> PtySession:
        """A terminal session (see opencomputer.sync.Pty.create)."""
        session = PtySession(Follow(on_output, None, None, None, encoding))
        await _run(self._h.pty_create, session._stream, cols, rows, shell, env, cwd)
        return session._opened()


class AgentSession(_Following):
    """An agent session this task follows (agent.start, agent.attach): the
    OpenComputer SDK's SandboxAgentSession (see opencomputer.sync).
    `async for event in session` gives its events (dicts), from the first
    one this handle saw until the program exits or close() is called,
    beside on_event.  send_prompt, interrupt and configure write at once,
    in order, and return a task: await it to see a failure."""

    def __init__(self, h: Handle, follow: _agent.AgentFollow):
        super().__init__(follow)
        self._h = h
        self._changed = asyncio.Event()
        follow.backlog.on_change = self._changed.set  # events come on the loop

    def _make_stream(self, loop: asyncio.AbstractEventLoop) -> Stream:
        f = self._follow
        return _agent.AgentStream(_on_loop(loop, f.event), _on_loop(loop, f.stderr),
                                  _on_loop(loop, f.replay_end), _on_loop(loop, self._ended))

    def _soon(self, fn, *args) -> 'asyncio.Task[None]':
        task = asyncio.get_running_loop().create_task(self._in_order(fn, *args))
        task.add_done_callback(_retrieved)
        return task

    def send_prompt(self, text: str) -> 'asyncio.Task[None]':
        """Writes {"type":"prompt","text":text} to the program's stdin."""
        return self._soon(self._stream.send_prompt, text)

    def interrupt(self) -> 'asyncio.Task[None]':
        """Writes {"type":"interrupt"}: the program stops its turn."""
        return self._soon(self._stream.interrupt)

    def configure(self, config: Optional[Mapping[str, Any]] = None,
                  **settings: Any) -> 'asyncio.Task[None]':
        """Writes {"type":"configure", ...} (see
        opencomputer.sync.AgentSession.configure)."""
        return self._soon(self._stream.configure, {**(config or {}), **settings})

    async def kill(self, signal: Optional[int] = None) -> None:
        """Signals the program's process group (default SIGKILL)."""
        await _run(_agent.kill, self._h, self.session_id, signal)

    def __aiter__(self) -> 'AgentSession':
        return self

    async def __anext__(self) -> Dict[str, Any]:
        backlog = self._follow.backlog
        while True:
            event = backlog.take(False)
            if event is not None:
                return event
            if backlog.ended:
                raise StopAsyncIteration
            self._changed.clear()
            await self._changed.wait()


class Agent:
    """sandbox.agent (see opencomputer.sync.Agent): start, attach, list,
    kill."""

    def __init__(self, s: sync.Agent):
        self._h = s._h
        self._s = s

    async def start(self, prompt: Optional[str] = None, *, model: Optional[str] = None,
                    system_prompt: Optional[str] = None,
                    allowed_tools: Optional[Sequence[str]] = None,
                    permission_mode: Optional[str] = None, max_turns: Optional[int] = None,
                    cwd: Optional[str] = None, mcp_servers: Optional[Mapping[str, Any]] = None,
                    resume: Optional[str] = None, program: Optional[str] = None,
                    args: Optional[Sequence[str]] = None, envs: Optional[Dict[str, str]] = None,
                    on_event: Optional[EventFn] = None,
                    on_error: Optional[Callable[[str], None]] = None,
                    on_exit: Optional[Callable[[int], None]] = None,
                    on_scrollback_end: Optional[Callable[[], None]] = None) -> AgentSession:
        """Starts an agent session and follows it (see
        opencomputer.sync.Agent.start); the callbacks run on this loop."""
        session = AgentSession(self._h, _agent.AgentFollow(on_event, on_error,
                                                           on_scrollback_end, on_exit))
        await _run(_agent.start, self._h, session._stream, prompt, program, args, envs,
                   _agent.settings_in(locals()))
        return session._opened()

    async def attach(self, session_id: int, *, on_event: Optional[EventFn] = None,
                     on_error: Optional[Callable[[str], None]] = None,
                     on_exit: Optional[Callable[[int], None]] = None,
                     on_scrollback_end: Optional[Callable[[], None]] = None) -> AgentSession:
        """Follows an agent session: its history, on_scrollback_end, then
        live events."""
        session = AgentSession(self._h, _agent.AgentFollow(on_event, on_error,
                                                           on_scrollback_end, on_exit))
        await _run(_agent.attach, self._h, session._stream, session_id)
        return session._opened()

    async def list(self) -> List[ExecSessionInfo]:
        return await _run(self._s.list)

    async def kill(self, session_id: int, signal: Optional[int] = None) -> None:
        await _run(self._s.kill, session_id, signal)


class Files:
    def __init__(self, s: sync.Files):
        self._s = s

    async def read(self, path: str) -> str:
        return await _run(self._s.read, path)

    async def read_bytes(self, path: str) -> bytes:
        return await _run(self._s.read_bytes, path)

    async def write(self, path: str, data: Union[str, bytes]) -> None:
        await _run(self._s.write, path, data)

    async def list(self, path: str) -> List[FileInfo]:
        return await _run(self._s.list, path)

    async def make_dir(self, path: str) -> None:
        await _run(self._s.make_dir, path)

    async def remove(self, path: str, recursive: bool = True) -> None:
        await _run(self._s.remove, path, recursive)

    async def exists(self, path: str) -> bool:
        return await _run(self._s.exists, path)

    async def stat(self, path: str) -> FileInfo:
        return await _run(self._s.stat, path)

    async def rename(self, old_path: str, new_path: str) -> None:
        await _run(self._s.rename, old_path, new_path)


class Sandbox:
    """A sandbox (see opencomputer.sync.Sandbox); `async with` kills it on
    exit, also when the body raises."""

    def __init__(self, s: sync.Sandbox):
        self._s = s
        self.exec = Exec(s.exec)
        self.files = Files(s.files)
        self.pty = Pty(s.pty)
        self.agent = Agent(s.agent)

    @classmethod
    async def create(cls, template: Optional[str] = None, timeout: Optional[int] = None,
                     envs: Optional[Dict[str, str]] = None,
                     metadata: Optional[Dict[str, str]] = None, cpu_count: Optional[int] = None,
                     memory_mb: Optional[int] = None,
                     network: Optional[NetworkLike] = None) -> 'Sandbox':
        return cls(await _run(sync.Sandbox.create, template, timeout, envs, metadata, cpu_count,
                              memory_mb, network))

    @classmethod
    async def connect(cls, sandbox_id: str) -> 'Sandbox':
        return cls(await _run(sync.Sandbox.connect, sandbox_id))

    @classmethod
    async def create_from_checkpoint(cls, checkpoint_id: str, timeout: Optional[int] = None,
                                     envs: Optional[Dict[str, str]] = None,
                                     metadata: Optional[Dict[str, str]] = None,
                                     count: Optional[int] = None,
                                     network: Optional[NetworkLike] = None
                                     ) -> Union['Sandbox', List['Sandbox']]:
        """A fork of the checkpoint; with count=N a list of N, made at once
        (see opencomputer.sync.Sandbox.create_from_checkpoint)."""
        made = await _run(sync.Sandbox.create_from_checkpoint, checkpoint_id, timeout, envs,
                          metadata, count, network)
        return cls(made) if count is None else [cls(s) for s in made]

    @staticmethod
    async def get_checkpoint(checkpoint_id: str) -> Checkpoint:
        return await _run(sync.Sandbox.get_checkpoint, checkpoint_id)

    @staticmethod
    async def list(metadata: Optional[Dict[str, str]] = None) -> List[SandboxInfo]:
        return await _run(sync.Sandbox.list, metadata)

    @property
    def sandbox_id(self) -> str:
        return self._s.sandbox_id

    @property
    def status(self) -> str:
        return self._s.status

    async def is_running(self) -> bool:
        return await _run(self._s.is_running)

    async def get_info(self) -> SandboxInfo:
        return await _run(self._s.get_info)

    async def set_timeout(self, timeout: int) -> None:
        await _run(self._s.set_timeout, timeout)

    async def set_network(self, network: Optional[NetworkLike] = None) -> None:
        """Replaces the egress policy; None clears it (see
        opencomputer.sync.Sandbox.set_network)."""
        await _run(self._s.set_network, network)

    async def get_network(self) -> NetworkPolicy:
        return await _run(self._s.get_network)

    async def get_host(self, port: int) -> str:
        """'127.0.0.1:N' that reaches the guest's port (see
        opencomputer.sync.Sandbox.get_host)."""
        return await _run(self._s.get_host, port)

    async def expose_port(self, port: int, host_port: int = 0) -> str:
        return await _run(self._s.expose_port, port, host_port)

    async def unexpose_port(self, port: int) -> None:
        await _run(self._s.unexpose_port, port)

    async def hibernate(self) -> None:
        await _run(self._s.hibernate)

    async def wake(self, timeout: Optional[int] = None) -> str:
        return await _run(self._s.wake, timeout)

    async def reboot(self) -> None:
        """Restarts the guest from its disk (after a brief sync in it), for a
        wedged guest: processes and memory go; files, id and settings stay."""
        await _run(self._s.reboot)

    async def power_cycle(self) -> None:
        """As reboot() without waiting on the guest, for a VM that does not
        answer; also boots a hibernated sandbox from its disk."""
        await _run(self._s.power_cycle)

    async def kill(self) -> None:
        await _run(self._s.kill)

    async def create_checkpoint(self, name: str) -> Checkpoint:
        return await _run(self._s.create_checkpoint, name)

    async def list_checkpoints(self) -> List[Checkpoint]:
        return await _run(self._s.list_checkpoints)

    async def restore_checkpoint(self, checkpoint_id: str) -> None:
        await _run(self._s.restore_checkpoint, checkpoint_id)

    async def delete_checkpoint(self, checkpoint_id: str) -> None:
        await _run(self._s.delete_checkpoint, checkpoint_id)

    async def __aenter__(self) -> 'Sandbox':
        return self

    async def __aexit__(self, *exc) -> None:
        await self.kill()


class Templates:
    """The templates of this host (see opencomputer.sync.Templates):
    await Templates.build(name, ...), Templates.list(), Templates.get(name),
    Templates.delete(name), Templates.import_rootfs(name, tar_path),
    Templates.prune()."""

    @staticmethod
    async def build(name: str, dockerfile: Optional[str] = None, *,
                    steps: Optional[Sequence[StepLike]] = None,
                    context_dir: Optional[str] = None,
                    build_args: Optional[Dict[str, str]] = None,
                    on_log: Optional[Callable[[str], None]] = None,
                    parent: Optional[str] = None, cpu_count: Optional[int] = None,
                    memory_mb: Optional[int] = None,
                    step_timeout: Optional[int] = None) -> TemplateInfo:
        """Builds a template (see opencomputer.sync.Templates.build); on_log
        runs on this loop."""
        on_log = _on_loop(asyncio.get_running_loop(), on_log)
        return await _run(sync.Templates.build, name, dockerfile, steps=steps,
                          context_dir=context_dir, build_args=build_args, on_log=on_log,
                          parent=parent, cpu_count=cpu_count, memory_mb=memory_mb,
                          step_timeout=step_timeout)

    @staticmethod
    async def list() -> List[TemplateInfo]:
        return await _run(sync.Templates.list)

    @staticmethod
    async def get(name: str) -> TemplateInfo:
        return await _run(sync.Templates.get, name)

    @staticmethod
    async def delete(name: str) -> None:
        await _run(sync.Templates.delete, name)

    @staticmethod
    async def import_rootfs(name: str, tar_path: str, *, prepare: bool = True,
                            on_log: Optional[Callable[[str], None]] = None) -> TemplateInfo:
        """Makes a template of a root filesystem tarball (see
        opencomputer.sync.Templates.import_rootfs); on_log runs on this
        loop."""
        on_log = _on_loop(asyncio.get_running_loop(), on_log)
        return await _run(sync.Templates.import_rootfs, name, tar_path, prepare=prepare,
                          on_log=on_log)

    @staticmethod
    async def prune(keep_days: int = 7) -> PruneResult:
        """Removes the build layers nothing needs (see
        opencomputer.sync.Templates.prune)."""
        return await _run(sync.Templates.prune, keep_days)


async def prepare_template(template: str = 'base') -> bool:
    """See opencomputer.sync.prepare_template."""
    return await _run(sync.prepare_template, template)


async def template_snapshot_ready(template: str = 'base') -> bool:
    return await _run(sync.template_snapshot_ready, template)


async def pool_status(template: str = 'base') -> PoolStatus:
    return await _run(sync.pool_status, template)
