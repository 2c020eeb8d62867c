"""sync.py: the blocking twin of the async API, for scripts.

    from opencomputer.sync import Sandbox
    with Sandbox.create() as sandbox:
        print(sandbox.exec.run("echo hello").stdout)
"""
from typing import Dict, List, Optional, Sequence, Union

from ._core import ExecResult, FileInfo, Handle, SandboxInfo


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

    @classmethod
    def create(cls, template: Optional[str] = None, timeout: Optional[int] = None,
               envs: Optional[Dict[str, str]] = None, metadata: Optional[Dict[str, str]] = None,
               cpu_count: Optional[int] = None, memory_mb: Optional[int] = None) -> 'Sandbox':
        """timeout: idle timeout in seconds (default 300, 0: never)."""
        return cls(Handle.create(template, timeout, envs, metadata, cpu_count, memory_mb))

    @classmethod
    def connect(cls, sandbox_id: str) -> 'Sandbox':
        return cls(Handle.connect(sandbox_id))

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

    def hibernate(self) -> None:
        self._h.hibernate()

    def wake(self, timeout: Optional[int] = None) -> str:
        """Returns 'restored', 'cold-boot' or 'running' (it was not asleep)."""
        return self._h.wake(timeout)

    def kill(self) -> None:
        self._h.kill()

    def __enter__(self) -> 'Sandbox':
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
