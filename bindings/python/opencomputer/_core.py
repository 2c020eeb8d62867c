"""_core.py: the blocking layer over the C library (through cffi).

Thin on purpose: argument conversion, handle ownership and error mapping,
nothing the C library does not already do.  cffi drops the GIL around every
C call, so these functions may run in worker threads (the async API does).
"""
import atexit
import codecs
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from ._cstr import _CStrings, _str
from ._network import CPolicy, NetworkPolicy, policy_of
from ._oc import ffi, lib
from .errors import InvalidArgumentError, StateError, error_for

_STATES = {1: 'running', 2: 'hibernated', 3: 'stopped', 4: 'error'}
_FILE_TYPES = {1: 'file', 2: 'dir', 3: 'symlink', 4: 'other'}


def _failure(rc: int, err) -> Tuple[int, str]:
    """The code and message of a failed call; frees the error."""
    e = err[0]
    message = ffi.string(lib.oc_error_message(e)).decode('utf-8', 'replace')
    code = lib.oc_error_code_of(e) if e != ffi.NULL else rc
    lib.oc_error_free(e)
    return code, message


def _check(rc: int, err) -> None:
    if rc < 0:
        raise error_for(*_failure(rc, err))


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

    def exec_list(self) -> List['ExecSessionInfo']:
        out = ffi.new('oc_exec_session_list **')
        self._get(lib.oc_exec_list, out, 0)
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


# ---- following sessions: attach handles ----
#
# The C library calls a handle's callbacks on the handle's own thread; the
# trampolines below (extern "Python" in gen_cffi.py) take the GIL and pass
# them on to the Stream named by user_data.  A Stream stays in _following
# from before its handle opens until its on_end, so that the object the C
# side points at cannot be collected while callbacks may still come.

_following = set()
_following_lock = threading.Lock()


@ffi.def_extern()
def _oc_on_stdout(data, n, user_data):
    ffi.from_handle(user_data).fns[0](ffi.unpack(data, n))


@ffi.def_extern()
def _oc_on_stderr(data, n, user_data):
    ffi.from_handle(user_data).fns[1](ffi.unpack(data, n))


@ffi.def_extern()
def _oc_on_replay_end(user_data):
    ffi.from_handle(user_data).fns[2]()


@ffi.def_extern()
def _oc_on_gap(stream, n, user_data):
    ffi.from_handle(user_data).fns[4](stream, n)


@ffi.def_extern()
def _oc_on_end(status, exit_code, user_data):
    ffi.from_handle(user_data).ended(status, exit_code)


class Output:
    """Passes chunks of output to fn: bytes, or str decoded with encoding
    (incrementally, so a character split across chunks comes whole)."""

    def __init__(self, fn: Callable, encoding: Optional[str]):
        self._fn = fn
        self._dec = codecs.getincrementaldecoder(encoding)('replace') if encoding else None

    def __call__(self, data: bytes) -> None:
        if self._dec is None:
            self._fn(data)
        else:
            text = self._dec.decode(data)
            if text:
                self._fn(text)

    def flush(self) -> None:
        text = self._dec.decode(b'', True) if self._dec else ''
        if text:
            self._fn(text)


class Follow:
    """A caller's callbacks for one stream: output as bytes or str,
    on_gap(stream, skipped) before the output that follows skipped bytes,
    and on_exit(exit_code) when the process exits."""

    def __init__(self, on_stdout: Optional[Callable], on_stderr: Optional[Callable],
                 on_replay_end: Optional[Callable], on_exit: Optional[Callable],
                 encoding: Optional[str], on_gap: Optional[Callable] = None):
        self.stdout = Output(on_stdout, encoding) if on_stdout else None
        self.stderr = Output(on_stderr, encoding) if on_stderr else None
        self.replay_end = on_replay_end
        self._on_exit = on_exit
        self._on_gap = on_gap
        self.gap = self._gap if on_gap else None

    def _gap(self, stream: int, skipped: int) -> None:
        # a character split across the gap cannot be completed: flush its
        # first half (replaced) before the gap is told
        out = self.stdout if stream == 1 else self.stderr
        if out:
            out.flush()
        self._on_gap(stream, skipped)

    def ended(self, status: int, exit_code: int) -> None:
        for out in (self.stdout, self.stderr):
            if out:
                out.flush()
        if status == 0 and self._on_exit:
            self._on_exit(exit_code)


class _Shared:
    """Owns a C object (self._ptr, made with ffi.gc) that calls on several
    threads may use at once: it is freed once retired and no call is using
    it (or when collected)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ptr = None
        self._uses = 0
        self._retired = False

    def _gone(self, what: str) -> str:
        raise NotImplementedError

    def _acquire(self, what: str):
        with self._lock:
            if self._ptr is None or self._retired:
                raise StateError(self._gone(what), -3)
            self._uses += 1
            return self._ptr

    def _take_unused(self):
        # with the lock held
        ptr = self._ptr if self._retired and self._uses == 0 else None
        if ptr is not None:
            self._ptr = None
        return ptr

    def _release(self) -> None:
        with self._lock:
            self._uses -= 1
            ptr = self._take_unused()
        if ptr is not None:
            ffi.release(ptr)

    def _retire(self) -> bool:
        """True if freed now, False if a call is still using it."""
        with self._lock:
            self._retired = True
            ptr = self._take_unused()
        if ptr is not None:
            ffi.release(ptr)
        return self._ptr is None

    def _call(self, what: str, fn, *args) -> None:
        """fn(ptr, *args, &error)"""
        ptr = self._acquire(what)
        try:
            err = ffi.new('oc_error **')
            _check(fn(ptr, *args, err), err)
        finally:
            self._release()


class Stream(_Shared):
    """One oc_exec_handle.  The callbacks (None: not wanted) run on the
    handle's own thread, one at a time and in order: on_stdout(bytes),
    on_stderr(bytes), on_gap(stream, skipped) before the output that follows
    a gap, on_replay_end(), and last on_end(status, exit_code).  The handle
    is freed once its end is known (wait())."""

    def __init__(self, on_stdout: Optional[Callable] = None,
                 on_stderr: Optional[Callable] = None,
                 on_replay_end: Optional[Callable] = None,
                 on_end: Optional[Callable] = None,
                 on_gap: Optional[Callable] = None):
        super().__init__()
        self.fns = (on_stdout, on_stderr, on_replay_end, on_end, on_gap)
        self._ud = ffi.new_handle(self)
        cb = ffi.new('oc_exec_callbacks *')
        cb.version = lib.OC_EXEC_CALLBACKS_VERSION
        cb.on_stdout = lib._oc_on_stdout if on_stdout else ffi.NULL
        cb.on_stderr = lib._oc_on_stderr if on_stderr else ffi.NULL
        cb.on_replay_end = lib._oc_on_replay_end if on_replay_end else ffi.NULL
        cb.on_end = lib._oc_on_end
        cb.on_gap = lib._oc_on_gap if on_gap else ffi.NULL
        cb.user_data = self._ud
        self._cb = cb
        self._ended = False   # on_end has been called
        self._end = None      # (status, exit_code, message) as oc_exec_wait told it
        self.session_id = 0
        self.is_pty = False

    def _gone(self, what: str) -> str:
        return 'cannot %s session %d: it has ended' % (what, self.session_id)

    def open(self, fn, *args) -> None:
        """fn(&handle, *args, callbacks, &error): oc_exec_spawn, oc_exec_attach
        or oc_pty_create.  Callbacks may come before it returns."""
        out = ffi.new('oc_exec_handle **')
        err = ffi.new('oc_error **')
        with _following_lock:
            _following.add(self)
        rc = fn(out, *args, self._cb, err)
        if rc < 0:
            with _following_lock:
                _following.discard(self)
            raise error_for(*_failure(rc, err))
        self.session_id = lib.oc_exec_handle_session_id(out[0])
        self.is_pty = bool(lib.oc_exec_handle_is_pty(out[0]))
        with self._lock:
            self._ptr = ffi.gc(out[0], lib.oc_exec_handle_free)

    def ended(self, status: int, exit_code: int) -> None:
        """on_end, on the handle's thread."""
        with self._lock:
            self._ended = True
        try:
            if self.fns[3]:
                self.fns[3](status, exit_code)
        finally:
            with _following_lock:
                _following.discard(self)

    def send_stdin(self, data: Union[str, bytes]) -> None:
        b = data.encode() if isinstance(data, str) else data
        self._call('write to', lib.oc_exec_send_stdin, ffi.from_buffer(b), len(b))

    def close_stdin(self) -> None:
        self._call('close the stdin of', lib.oc_exec_close_stdin)

    def signal(self, signal: int) -> None:
        self._call('signal', lib.oc_exec_signal, signal)

    def resize(self, cols: int, rows: int) -> None:
        self._call('resize', lib.oc_exec_resize, cols, rows)

    def detach(self) -> None:
        try:
            h = self._acquire('detach')
        except StateError:
            return  # it has ended already
        try:
            lib.oc_exec_detach(h)
        finally:
            self._release()

    def _wait_once(self, h, timeout_ms: int) -> bool:
        """Records the end if the handle ends within timeout_ms (-1: no limit)."""
        with self._lock:
            if self._ended:
                timeout_ms = -1  # returns at once, with the end
        code = ffi.new('int *')
        err = ffi.new('oc_error **')
        rc = lib.oc_exec_wait(h, timeout_ms, code, err)
        status, message = _failure(rc, err) if rc < 0 else (0, None)
        with self._lock:
            # ended() runs before the C side lets oc_exec_wait return: a
            # failure without it is this wait timing out
            if not self._ended:
                return False
        if rc < 0 and timeout_ms >= 0:
            # maybe a timeout that crossed the end: ask again, for the end
            return self._wait_once(h, -1)
        with self._lock:
            if self._end is None:
                self._end = (status, code[0], message)
            self._retired = True  # freed as this wait releases it
        return True

    def wait(self, timeout_ms: int = -1) -> int:
        """The exit code once the handle has ended; raises the error it ended
        with (detached: code OC_ECANCELLED), or TimeoutError if it has not
        ended within timeout_ms (-1: no limit)."""
        if self._end is None:
            h = self._acquire('wait for')
            try:
                if not self._wait_once(h, timeout_ms):
                    raise error_for(-4, 'session %d is still running after %d ms'
                                    % (self.session_id, timeout_ms))
            finally:
                self._release()
        status, exit_code, message = self._end
        if status < 0:
            raise error_for(status, message)
        return exit_code


@atexit.register
def _stop_following() -> None:
    # Callbacks into an interpreter that is shutting down would hang their
    # thread: end every handle still attached (freeing joins its thread).
    with _following_lock:
        streams = list(_following)
    for s in streams:
        s._retire()


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
