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

Templates: await Templates.list(), Templates.get(name) (a TemplateInfo) and
Templates.delete(name).
"""
import asyncio
from typing import Callable, Dict, List, Optional, Sequence, Union

from . import sync
from ._checkpoint import Checkpoint, PoolStatus
from ._network import NetworkLike, NetworkPolicy
from ._template import TemplateInfo
from ._core import ExecResult, ExecSessionInfo, FileInfo, SandboxInfo, configure
from ._stream import Follow, Stream
from .errors import (AlreadyExistsError, InvalidArgumentError, LimitError, NotFoundError,
                     PermissionDeniedError, SandboxError, StateError, TimeoutError,
                     UnsupportedError)

__all__ = ['Sandbox', 'Checkpoint', 'ExecResult',
           'ExecSession', 'ExecSessionInfo', 'FileInfo', 'NetworkLike', 'NetworkPolicy',
           'PoolStatus', 'PtySession', 'SandboxInfo', 'Shell', 'TemplateInfo', 'Templates',
           'configure', 'prepare_template', 'template_snapshot_ready', 'pool_status',
           'SandboxError', 'InvalidArgumentError', 'NotFoundError', 'StateError', 'TimeoutError',
           'LimitError', 'AlreadyExistsError', 'PermissionDeniedError', 'UnsupportedError']

_run = asyncio.to_thread
OutputFn = Callable[[Union[bytes, str]], None]


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
    await Templates.list(), Templates.get(name), Templates.delete(name)."""

    @staticmethod
    async def list() -> List[TemplateInfo]:
        return await _run(sync.Templates.list)

    @staticmethod
    async def get(name: str) -> TemplateInfo:
        return await _run(sync.Templates.get, name)

    @staticmethod
    async def delete(name: str) -> None:
        await _run(sync.Templates.delete, name)


async def prepare_template(template: str = 'base') -> bool:
    """See opencomputer.sync.prepare_template."""
    return await _run(sync.prepare_template, template)


async def template_snapshot_ready(template: str = 'base') -> bool:
    return await _run(sync.template_snapshot_ready, template)


async def pool_status(template: str = 'base') -> PoolStatus:
    return await _run(sync.pool_status, template)
