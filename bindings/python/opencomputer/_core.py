"""_core.py: the blocking layer over the C library (through cffi).

Thin on purpose: argument conversion, handle ownership and error mapping,
nothing the C library does not already do.  cffi drops the GIL around every
C call, so these functions may run in worker threads (the async API does).
"""
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Union

from ._oc import ffi, lib
from .errors import error_for

_STATES = {1: 'running', 2: 'hibernated', 3: 'stopped', 4: 'error'}
_FILE_TYPES = {1: 'file', 2: 'dir', 3: 'symlink', 4: 'other'}


def _check(rc: int, err) -> None:
    if rc < 0:
        e = err[0]
        message = ffi.string(lib.oc_error_message(e)).decode('utf-8', 'replace')
        code = lib.oc_error_code_of(e) if e != ffi.NULL else rc
        lib.oc_error_free(e)
        raise error_for(code, message)


def _str(p) -> Optional[str]:
    return None if p == ffi.NULL else ffi.string(p).decode('utf-8', 'replace')


class _CStrings:
    """A NULL-terminated char* array that lives as long as this object."""

    def __init__(self, items: Optional[Sequence[str]]):
        self._keep = [ffi.new('char[]', s.encode()) for s in items or []]
        self.ptr = ffi.new('char *[]', self._keep + [ffi.NULL]) if items is not None else ffi.NULL


def _pairs(d: Optional[Dict[str, str]]) -> Optional[List[str]]:
    return None if d is None else ['%s=%s' % (k, v) for k, v in d.items()]


_ctx = None
_ctx_lock = threading.Lock()


def context():
    """The process's library context, opened on first use."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            out = ffi.new('oc_context **')
            err = ffi.new('oc_error **')
            _check(lib.oc_context_new(out, ffi.NULL, err), err)
            _ctx = ffi.gc(out[0], lib.oc_context_unref)
        return _ctx


@dataclass
class SandboxInfo:
    sandbox_id: str
    status: str
    template: str
    created_at: datetime
    cpu_count: int
    memory_mb: int
    timeout: int
    accelerator: str
    last_wake: Optional[str]
    end_at: Optional[datetime]
    metadata: Dict[str, str] = field(default_factory=dict)
    envs: Dict[str, str] = field(default_factory=dict)


def _kv(info, count_fn, at_fn) -> Dict[str, str]:
    out = {}
    value = ffi.new('const char **')
    for i in range(count_fn(info)):
        key = at_fn(info, i, value)
        out[_str(key)] = _str(value[0])
    return out


def _info(p) -> SandboxInfo:
    wake = lib.oc_sandbox_info_last_wake(p)
    deadline = lib.oc_sandbox_info_idle_deadline(p)
    return SandboxInfo(
        sandbox_id=_str(lib.oc_sandbox_info_id(p)),
        status=_STATES.get(lib.oc_sandbox_info_state(p), 'unknown'),
        template=_str(lib.oc_sandbox_info_template(p)),
        created_at=datetime.fromtimestamp(lib.oc_sandbox_info_created(p), timezone.utc),
        cpu_count=lib.oc_sandbox_info_cpu_count(p),
        memory_mb=lib.oc_sandbox_info_memory_mb(p),
        timeout=lib.oc_sandbox_info_timeout(p),
        accelerator=_str(lib.oc_sandbox_info_accelerator(p)),
        last_wake=_str(lib.oc_wake_kind_name(wake)) if wake else None,
        end_at=datetime.fromtimestamp(deadline, timezone.utc) if deadline else None,
        metadata=_kv(p, lib.oc_sandbox_info_metadata_count, lib.oc_sandbox_info_metadata_at),
        envs=_kv(p, lib.oc_sandbox_info_env_count, lib.oc_sandbox_info_env_at),
    )


@dataclass
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int
    signal: int = 0
    timed_out: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_bytes: bytes = b''
    stderr_bytes: bytes = b''


@dataclass
class FileInfo:
    name: str
    path: str
    type: str
    size: int
    mode: int
    modified_at: datetime
    link_target: Optional[str] = None

    @property
    def is_dir(self) -> bool:
        return self.type == 'dir'


def _file_info(p, path: str) -> FileInfo:
    return FileInfo(
        name=_str(lib.oc_file_info_name(p)),
        path=path,
        type=_FILE_TYPES.get(lib.oc_file_info_type(p), 'other'),
        size=lib.oc_file_info_size(p),
        mode=lib.oc_file_info_mode(p),
        modified_at=datetime.fromtimestamp(lib.oc_file_info_mtime_ns(p) / 1e9, timezone.utc),
        link_target=_str(lib.oc_file_info_link_target(p)),
    )


class Handle:
    """One oc_sandbox handle: every blocking call on a sandbox."""

    def __init__(self, ptr):
        self._sb = ffi.gc(ptr, lib.oc_sandbox_unref)
        self.sandbox_id = _str(lib.oc_sandbox_id(self._sb))

    @staticmethod
    def create(template: Optional[str], timeout: Optional[int], envs, metadata,
               cpu_count: Optional[int], memory_mb: Optional[int]) -> 'Handle':
        opts = ffi.new('oc_sandbox_options *')
        opts.version = lib.OC_SANDBOX_OPTIONS_VERSION
        tmpl = ffi.new('char[]', template.encode()) if template else ffi.NULL
        opts.template_name = tmpl
        opts.timeout_s = lib.OC_TIMEOUT_DEFAULT if timeout is None else timeout
        opts.cpu_count = lib.OC_DEFAULT_CPU_COUNT if cpu_count is None else cpu_count
        opts.memory_mb = lib.OC_DEFAULT_MEMORY_MB if memory_mb is None else memory_mb
        e, m = _CStrings(_pairs(envs)), _CStrings(_pairs(metadata))
        opts.envs, opts.metadata = e.ptr, m.ptr
        out = ffi.new('oc_sandbox **')
        err = ffi.new('oc_error **')
        _check(lib.oc_sandbox_create(out, context(), opts, err), err)
        return Handle(out[0])

    @staticmethod
    def connect(sandbox_id: str) -> 'Handle':
        out = ffi.new('oc_sandbox **')
        err = ffi.new('oc_error **')
        _check(lib.oc_sandbox_connect(out, context(), sandbox_id.encode(), err), err)
        return Handle(out[0])

    @staticmethod
    def list(metadata: Optional[Dict[str, str]]) -> List[SandboxInfo]:
        out = ffi.new('oc_sandbox_list **')
        err = ffi.new('oc_error **')
        f = _CStrings(_pairs(metadata))
        _check(lib.oc_sandbox_list_get(out, context(), f.ptr, 0, err), err)
        try:
            return [_info(lib.oc_sandbox_list_at(out[0], i))
                    for i in range(lib.oc_sandbox_list_count(out[0]))]
        finally:
            lib.oc_sandbox_list_free(out[0])

    def _call(self, fn, *args) -> None:
        """fn(sb, *args, &error)"""
        err = ffi.new('oc_error **')
        _check(fn(self._sb, *args, err), err)

    def _get(self, fn, out, *args) -> None:
        """fn(&out, sb, *args, &error): the C API's getters put out first"""
        err = ffi.new('oc_error **')
        _check(fn(out, self._sb, *args, err), err)

    def _int(self, fn) -> int:
        out = ffi.new('int *')
        self._call(fn, out)
        return out[0]

    def status(self) -> str:
        return _STATES.get(self._int(lib.oc_sandbox_status), 'unknown')

    def is_running(self) -> bool:
        return bool(self._int(lib.oc_sandbox_is_running))

    def info(self) -> SandboxInfo:
        out = ffi.new('oc_sandbox_info **')
        self._get(lib.oc_sandbox_info_get, out)
        try:
            return _info(out[0])
        finally:
            lib.oc_sandbox_info_free(out[0])

    def set_timeout(self, timeout: int) -> None:
        self._call(lib.oc_sandbox_set_timeout, timeout, 0)

    def kill(self) -> None:
        self._call(lib.oc_sandbox_kill, 0)

    def hibernate(self) -> None:
        self._call(lib.oc_sandbox_hibernate, 0)

    def wake(self, timeout: Optional[int]) -> str:
        opts = ffi.new('oc_wake_options *')
        opts.version = lib.OC_WAKE_OPTIONS_VERSION
        opts.timeout_s = lib.OC_TIMEOUT_KEEP if timeout is None else timeout
        kind = ffi.new('int *')
        self._call(lib.oc_sandbox_wake, opts, kind)
        return _str(lib.oc_wake_kind_name(kind[0]))

    def exec_run(self, command: str, args: Optional[Sequence[str]], env: Optional[Dict[str, str]],
                 cwd: Optional[str], timeout: Optional[float],
                 stdin: Union[str, bytes, None]) -> ExecResult:
        opts = ffi.new('oc_exec_options *')
        opts.version = lib.OC_EXEC_OPTIONS_VERSION
        a, e = _CStrings(args), _CStrings(_pairs(env))
        opts.args, opts.envs = a.ptr, e.ptr
        c = ffi.new('char[]', cwd.encode()) if cwd else ffi.NULL
        opts.cwd = c
        opts.timeout_ms = lib.OC_TIMEOUT_DEFAULT if timeout is None else int(timeout * 1000)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        if data is not None:
            buf = ffi.from_buffer(data)
            opts.stdin_data, opts.stdin_len = buf, len(data)
        out = ffi.new('oc_exec_result **')
        self._get(lib.oc_exec_run, out, command.encode(), opts)
        r = out[0]
        try:
            n = ffi.new('size_t *')
            so = ffi.buffer(lib.oc_exec_result_stdout(r, n), n[0])[:]
            se = ffi.buffer(lib.oc_exec_result_stderr(r, n), n[0])[:]
            return ExecResult(
                stdout=so.decode('utf-8', 'replace'), stderr=se.decode('utf-8', 'replace'),
                exit_code=lib.oc_exec_result_exit_code(r), signal=lib.oc_exec_result_signal(r),
                timed_out=bool(lib.oc_exec_result_timed_out(r)),
                stdout_truncated=bool(lib.oc_exec_result_stdout_truncated(r)),
                stderr_truncated=bool(lib.oc_exec_result_stderr_truncated(r)),
                stdout_bytes=so, stderr_bytes=se)
        finally:
            lib.oc_exec_result_free(r)

    def files_read(self, path: str) -> bytes:
        data = ffi.new('void **')
        n = ffi.new('size_t *')
        self._call(lib.oc_files_read, path.encode(), data, n, 0)
        try:
            return ffi.buffer(data[0], n[0])[:]
        finally:
            lib.oc_free(data[0])

    def files_write(self, path: str, data: Union[str, bytes]) -> None:
        b = data.encode() if isinstance(data, str) else bytes(data)
        self._call(lib.oc_files_write, path.encode(), ffi.from_buffer(b), len(b), 0)

    def files_stat(self, path: str) -> FileInfo:
        out = ffi.new('oc_file_info **')
        self._get(lib.oc_files_stat, out, path.encode(), 0)
        try:
            return _file_info(out[0], path)
        finally:
            lib.oc_file_info_free(out[0])

    def files_exists(self, path: str) -> bool:
        out = ffi.new('int *')
        self._call(lib.oc_files_exists, path.encode(), out, 0)
        return bool(out[0])

    def files_list(self, path: str) -> List[FileInfo]:
        out = ffi.new('oc_file_list **')
        self._get(lib.oc_files_list, out, path.encode(), 0)
        try:
            items = []
            for i in range(lib.oc_file_list_count(out[0])):
                p = lib.oc_file_list_at(out[0], i)
                name = _str(lib.oc_file_info_name(p))
                items.append(_file_info(p, path.rstrip('/') + '/' + name))
            return items
        finally:
            lib.oc_file_list_free(out[0])

    def files_mkdir(self, path: str) -> None:
        self._call(lib.oc_files_mkdir, path.encode(), 0)

    def files_remove(self, path: str, recursive: bool) -> None:
        self._call(lib.oc_files_remove, path.encode(), lib.OC_FILES_RECURSIVE if recursive else 0)

    def files_rename(self, old: str, new: str) -> None:
        self._call(lib.oc_files_rename, old.encode(), new.encode(), 0)
