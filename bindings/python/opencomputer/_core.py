"""_core.py: the blocking layer over the C library (through cffi).

Thin on purpose: argument conversion, handle ownership and error mapping,
nothing the C library does not already do.  cffi drops the GIL around every
C call, so these functions may run in worker threads (the async API does).
"""
import atexit
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Union

from ._cerror import _check
from ._cstr import _CStrings, _str
from ._network import CPolicy, NetworkPolicy, policy_of
from ._oc import ffi, lib
from ._stream import Stream, _Shared
from .errors import InvalidArgumentError, StateError

_STATES = {1: 'running', 2: 'hibernated', 3: 'stopped', 4: 'error'}
_FILE_TYPES = {1: 'file', 2: 'dir', 3: 'symlink', 4: 'other'}


def _pairs(d: Optional[Dict[str, str]]) -> Optional[List[str]]:
    return None if d is None else ['%s=%s' % (k, v) for k, v in d.items()]


_ctx = None
_ctx_options = None  # (oc_context_options *, what it points into), from configure()
_ctx_lock = threading.Lock()


def configure(pool_size: int = 0, pool_memory_mb: int = 0,
              pool_templates: Optional[Sequence[str]] = None, uri: Optional[str] = None,
              state_dir: Optional[str] = None, require_kvm: bool = False) -> None:
    """Options of the process's library context; call it before any other
    call (StateError once the context is open).

    pool_size: sandboxes kept ready per pooled template (0: no warm pool);
    create() with the default cpu count and memory claims one.
    pool_memory_mb: the memory the pool may hold (0: 2048).
    pool_templates: the pooled templates (None: ['base']).
    uri: the libvirt URI (None: qemu:///system); state_dir (None:
    $OC_STATE_DIR or /var/lib/opencomputer).  The pool's unclaimed
    sandboxes are killed when the context is freed, at exit.
    require_kvm: refuse to run without KVM (the first call that needs the
    context raises UnsupportedError) rather than under TCG emulation, which
    is not a security boundary."""
    global _ctx_options
    opts = ffi.new('oc_context_options *')
    opts.version = lib.OC_CONTEXT_OPTIONS_VERSION
    keep = [_CStrings(pool_templates)] + [ffi.new('char[]', s.encode()) if s else ffi.NULL
                                          for s in (uri, state_dir)]
    opts.pool_size, opts.pool_memory_mb = pool_size, pool_memory_mb
    opts.flags = lib.OC_CONTEXT_REQUIRE_KVM if require_kvm else 0
    opts.pool_templates, opts.uri, opts.state_dir = keep[0].ptr, keep[1], keep[2]
    with _ctx_lock:
        if _ctx is not None:
            raise StateError('the library context is open already: call configure() '
                             'before any other call', -3)
        _ctx_options = (opts, keep)


def context():
    """The process's library context, opened on first use."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            out = ffi.new('oc_context **')
            err = ffi.new('oc_error **')
            opts = _ctx_options[0] if _ctx_options else ffi.NULL
            _check(lib.oc_context_new(out, opts, err), err)
            _ctx = ffi.gc(out[0], lib.oc_context_unref)
        return _ctx


@atexit.register
def _close_context() -> None:
    # A warm pool stops, and kills the sandboxes it holds ready, when its
    # context is freed: drop this module's reference (sandbox objects still
    # alive keep theirs).  Worker threads have been joined by now.
    global _ctx
    with _ctx_lock:
        if not (_ctx_options and _ctx_options[0].pool_size):
            return
        ctx, _ctx = _ctx, None
    if ctx is not None:
        ffi.release(ctx)


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
    #: how it was made: 'boot', 'snapshot' (its template's ready snapshot),
    #: 'pool' (claimed from the warm pool) or 'checkpoint' (a fork)
    origin: str = 'boot'
    #: the checkpoint it was forked or last restored from
    checkpoint: Optional[str] = None
    #: why it is in its status, with what to do, when the status alone does
    #: not say (its QEMU process was killed, a disk error, a guest crash)
    reason: Optional[str] = None
    #: the egress policy as set (see NetworkPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)


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
        origin=_str(lib.oc_sandbox_info_origin(p)),
        checkpoint=_str(lib.oc_sandbox_info_checkpoint(p)),
        reason=_str(lib.oc_sandbox_info_reason(p)),
        network=policy_of(p),
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


def _result(r) -> ExecResult:
    """An ExecResult from r, which it frees."""
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


def _exec_options(args: Optional[Sequence[str]], env: Optional[Dict[str, str]],
                  cwd: Optional[str], timeout: Optional[float]):
    """An oc_exec_options, and what its pointers point into (keep it alive)."""
    opts = ffi.new('oc_exec_options *')
    opts.version = lib.OC_EXEC_OPTIONS_VERSION
    a, e = _CStrings(args), _CStrings(_pairs(env))
    opts.args, opts.envs = a.ptr, e.ptr
    c = ffi.new('char[]', cwd.encode()) if cwd else ffi.NULL
    opts.cwd = c
    opts.timeout_ms = lib.OC_TIMEOUT_DEFAULT if timeout is None else int(timeout * 1000)
    return opts, (a, e, c)


@dataclass
class ExecSessionInfo:
    session_id: int
    command: str
    running: bool
    pid: int
    started_at: datetime
    #: once it is not running: its exit status (128+signal if killed)
    exit_code: Optional[int] = None
    #: the signal that ended it, 0 if none
    signal: int = 0


def _session_info(p) -> ExecSessionInfo:
    running = bool(lib.oc_exec_session_info_running(p))
    return ExecSessionInfo(
        session_id=lib.oc_exec_session_info_id(p),
        command=_str(lib.oc_exec_session_info_command(p)),
        running=running,
        pid=lib.oc_exec_session_info_pid(p),
        started_at=datetime.fromtimestamp(lib.oc_exec_session_info_started_at_ms(p) / 1e3,
                                          timezone.utc),
        exit_code=None if running else lib.oc_exec_session_info_exit_code(p),
        signal=lib.oc_exec_session_info_signal(p))


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


def _port(n: int, what: str, low: int) -> int:
    """n as a uint16_t: the C type cannot carry a bad port to the library's
    own check, so the binding says what is wrong."""
    if not isinstance(n, int) or isinstance(n, bool) or not low <= n <= 65535:
        raise InvalidArgumentError('%s %r: a port is %d to 65535' % (what, n, low), -1)
    return n


class Handle:
    """One oc_sandbox handle: every blocking call on a sandbox."""

    def __init__(self, ptr):
        self._sb = ffi.gc(ptr, lib.oc_sandbox_unref)
        self.sandbox_id = _str(lib.oc_sandbox_id(self._sb))

    @staticmethod
    def create(template: Optional[str], timeout: Optional[int], envs, metadata,
               cpu_count: Optional[int], memory_mb: Optional[int],
               network: Optional[NetworkPolicy] = None) -> 'Handle':
        opts = ffi.new('oc_sandbox_options *')
        opts.version = lib.OC_SANDBOX_OPTIONS_VERSION
        tmpl = ffi.new('char[]', template.encode()) if template else ffi.NULL
        opts.template_name = tmpl
        opts.timeout_s = lib.OC_TIMEOUT_DEFAULT if timeout is None else timeout
        opts.cpu_count = lib.OC_DEFAULT_CPU_COUNT if cpu_count is None else cpu_count
        opts.memory_mb = lib.OC_DEFAULT_MEMORY_MB if memory_mb is None else memory_mb
        e, m = _CStrings(_pairs(envs)), _CStrings(_pairs(metadata))
        opts.envs, opts.metadata = e.ptr, m.ptr
        net = CPolicy(network)
        opts.network = net.ptr
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

    def set_network(self, network: Optional[NetworkPolicy]) -> None:
        policy = CPolicy(network)  # holds the strings policy.ptr points to
        self._call(lib.oc_sandbox_set_network, policy.ptr, 0)

    def expose_port(self, port: int, host_port: int) -> str:
        out = ffi.new('char **')
        self._call(lib.oc_sandbox_expose_port, _port(port, 'port', 1),
                   _port(host_port, 'host_port', 0), 0, out)
        try:
            return _str(out[0])
        finally:
            lib.oc_free(out[0])

    def unexpose_port(self, port: int) -> None:
        self._call(lib.oc_sandbox_unexpose_port, _port(port, 'port', 1), 0)

    def kill(self) -> None:
        self._call(lib.oc_sandbox_kill, 0)

    def hibernate(self) -> None:
        self._call(lib.oc_sandbox_hibernate, 0)

    def reboot(self, hard: bool) -> None:
        self._call(lib.oc_sandbox_reboot, lib.OC_REBOOT_HARD if hard else 0)

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
        opts, _keep = _exec_options(args, env, cwd, timeout)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        if data is not None:
            buf = ffi.from_buffer(data)
            opts.stdin_data, opts.stdin_len = buf, len(data)
        out = ffi.new('oc_exec_result **')
        self._get(lib.oc_exec_run, out, command.encode(), opts)
        return _result(out[0])

    def exec_spawn(self, stream: 'Stream', command: str, args: Optional[Sequence[str]],
                   env: Optional[Dict[str, str]], cwd: Optional[str],
                   timeout: Optional[float]) -> None:
        opts, _keep = _exec_options(args, env, cwd, timeout)
        stream.open(lib.oc_exec_spawn, self._sb, command.encode(), opts)

    def exec_attach(self, stream: 'Stream', session_id: int) -> None:
        stream.open(lib.oc_exec_attach, self._sb, session_id)

    def pty_create(self, stream: 'Stream', cols: Optional[int], rows: Optional[int],
                   shell: Optional[str], env: Optional[Dict[str, str]],
                   cwd: Optional[str]) -> None:
        opts = ffi.new('oc_pty_options *')
        opts.version = lib.OC_PTY_OPTIONS_VERSION
        opts.cols, opts.rows = cols or 0, rows or 0
        sh = ffi.new('char[]', shell.encode()) if shell is not None else ffi.NULL
        c = ffi.new('char[]', cwd.encode()) if cwd else ffi.NULL
        e = _CStrings(_pairs(env))
        opts.shell, opts.cwd, opts.envs = sh, c, e.ptr
        stream.open(lib.oc_pty_create, self._sb, opts)

    def exec_list(self, fn=lib.oc_exec_list) -> List['ExecSessionInfo']:
        """fn: oc_exec_list, or oc_agent_list for the agent sessions only."""
        out = ffi.new('oc_exec_session_list **')
        self._get(fn, out, 0)
        try:
            return [_session_info(lib.oc_exec_session_list_at(out[0], i))
                    for i in range(lib.oc_exec_session_list_count(out[0]))]
        finally:
            lib.oc_exec_session_list_free(out[0])

    def exec_kill(self, session_id: int, signal: Optional[int]) -> None:
        self._call(lib.oc_exec_kill, session_id, signal or 0)

    def shell_open(self, env: Optional[Dict[str, str]], cwd: Optional[str]) -> 'Shell':
        opts = ffi.new('oc_shell_options *')
        opts.version = lib.OC_SHELL_OPTIONS_VERSION
        e = _CStrings(_pairs(env))
        c = ffi.new('char[]', cwd.encode()) if cwd else ffi.NULL
        opts.envs, opts.cwd = e.ptr, c
        out = ffi.new('oc_shell **')
        self._get(lib.oc_shell_open, out, opts)
        return Shell(out[0], self._sb)

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


# ---- stateful shells ----

class Shell(_Shared):
    """One oc_shell.  Runs may overlap (the second fails: busy); close()
    waits for none: a run in progress is ended by killing the shell."""

    def __init__(self, ptr, sb):
        super().__init__()
        self._sb = sb
        self.session_id = lib.oc_shell_session_id(ptr)
        self._ptr = ffi.gc(ptr, lib.oc_shell_close)

    def _gone(self, what: str) -> str:
        return 'cannot %s shell %d: it is closed' % (what, self.session_id)

    def run(self, command: str, timeout: Optional[float]) -> ExecResult:
        sh = self._acquire('run a command in')
        try:
            out = ffi.new('oc_exec_result **')
            err = ffi.new('oc_error **')
            ms = lib.OC_TIMEOUT_DEFAULT if timeout is None else int(timeout * 1000)
            _check(lib.oc_shell_run(out, sh, command.encode(), ms, err), err)
            return _result(out[0])
        finally:
            self._release()

    def close(self) -> None:
        if not self._retire():
            # a run is in progress: end it, and the shell goes when it returns
            lib.oc_exec_kill(self._sb, self.session_id, 0, ffi.NULL)
