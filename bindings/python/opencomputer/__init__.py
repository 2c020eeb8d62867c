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
"""
import asyncio
from typing import Dict, List, Optional, Sequence, Union

from . import sync
from ._core import ExecResult, FileInfo, SandboxInfo
from .errors import (AlreadyExistsError, InvalidArgumentError, LimitError, NotFoundError,
                     PermissionDeniedError, SandboxError, StateError, TimeoutError)

__all__ = ['Sandbox', 'ExecResult', 'FileInfo', 'SandboxInfo', 'SandboxError',
           'InvalidArgumentError', 'NotFoundError', 'StateError', 'TimeoutError', 'LimitError',
           'AlreadyExistsError', 'PermissionDeniedError']

_run = asyncio.to_thread


class Exec:
    def __init__(self, s: sync.Exec):
        self._s = s

    async def run(self, command: str, *, args: Optional[Sequence[str]] = None,
                  env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                  timeout: Optional[float] = None,
                  stdin: Union[str, bytes, None] = None) -> ExecResult:
        return await _run(self._s.run, command, args=args, env=env, cwd=cwd, timeout=timeout,
                          stdin=stdin)


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

    @classmethod
    async def create(cls, template: Optional[str] = None, timeout: Optional[int] = None,
                     envs: Optional[Dict[str, str]] = None,
                     metadata: Optional[Dict[str, str]] = None, cpu_count: Optional[int] = None,
                     memory_mb: Optional[int] = None) -> 'Sandbox':
        return cls(await _run(sync.Sandbox.create, template, timeout, envs, metadata, cpu_count,
                              memory_mb))

    @classmethod
    async def connect(cls, sandbox_id: str) -> 'Sandbox':
        return cls(await _run(sync.Sandbox.connect, sandbox_id))

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

    async def hibernate(self) -> None:
        await _run(self._s.hibernate)

    async def wake(self, timeout: Optional[int] = None) -> str:
        return await _run(self._s.wake, timeout)

    async def kill(self) -> None:
        await _run(self._s.kill)

    async def __aenter__(self) -> 'Sandbox':
        return self

    async def __aexit__(self, *exc) -> None:
        await self.kill()
