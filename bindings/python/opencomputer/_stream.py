"""_stream.py: following sessions from Python: the handles whose callbacks
the C library calls on a thread of its own (exec and PTY sessions in
_core.py, agent sessions in _agent.py), and the objects they share with
calls on other threads."""
import atexit
import codecs
import threading
from typing import Callable, Optional, Union

from ._cerror import _check, _failure
from ._oc import ffi, lib
from .errors import StateError, error_for

#: OC_ECANCELLED: a handle's end once its caller stopped following
ECANCELLED = -12

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

    def _free(self, ptr) -> None:
        ffi.release(ptr)

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
            self._free(ptr)

    def _retire(self) -> bool:
        """True if freed now, False if a call is still using it."""
        with self._lock:
            self._retired = True
            ptr = self._take_unused()
        if ptr is not None:
            self._free(ptr)
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
    """One oc_exec_handle (a subclass may follow another kind of handle).
    The callbacks (None: not wanted) run on the handle's own thread, one at
    a time and in order: on_stdout(bytes), on_stderr(bytes), on_gap(stream,
    skipped) before the output that follows a gap, on_replay_end(), and
    last on_end(status, exit_code).  The handle is freed once its end is
    known (wait())."""

    def __init__(self, on_stdout: Optional[Callable] = None,
                 on_stderr: Optional[Callable] = None,
                 on_replay_end: Optional[Callable] = None,
                 on_end: Optional[Callable] = None,
                 on_gap: Optional[Callable] = None):
        super().__init__()
        self.fns = (on_stdout, on_stderr, on_replay_end, on_end, on_gap)
        self._ud = ffi.new_handle(self)
        self._cb = self._callbacks()
        self._ended = False   # on_end has been called
        self._end = None      # (status, exit_code, message) as the wait told it
        self.session_id = 0
        self.is_pty = False

    # the handle's C type and functions
    _C_OUT = 'oc_exec_handle **'
    _c_wait = staticmethod(lib.oc_exec_wait)
    _c_detach = staticmethod(lib.oc_exec_detach)
    _c_free = staticmethod(lib.oc_exec_handle_free)

    def _callbacks(self):
        """The C callbacks struct, calling the trampolines that self.fns
        wants."""
        on_stdout, on_stderr, on_replay_end, _, on_gap = self.fns
        cb = ffi.new('oc_exec_callbacks *')
        cb.version = lib.OC_EXEC_CALLBACKS_VERSION
        cb.on_stdout = lib._oc_on_stdout if on_stdout else ffi.NULL
        cb.on_stderr = lib._oc_on_stderr if on_stderr else ffi.NULL
        cb.on_replay_end = lib._oc_on_replay_end if on_replay_end else ffi.NULL
        cb.on_end = lib._oc_on_end
        cb.on_gap = lib._oc_on_gap if on_gap else ffi.NULL
        cb.user_data = self._ud
        return cb

    def _opened(self, ptr) -> None:
        self.session_id = lib.oc_exec_handle_session_id(ptr)
        self.is_pty = bool(lib.oc_exec_handle_is_pty(ptr))

    def _gone(self, what: str) -> str:
        return 'cannot %s session %d: it has ended' % (what, self.session_id)

    def open(self, fn, *args) -> None:
        """fn(&handle, *args, callbacks, &error): oc_exec_spawn, oc_exec_attach
        or oc_pty_create (oc_agent_start or oc_agent_attach for an
        AgentStream).  Callbacks may come before it returns."""
        out = ffi.new(self._C_OUT)
        err = ffi.new('oc_error **')
        with _following_lock:
            _following.add(self)
        rc = fn(out, *args, self._cb, err)
        if rc < 0:
            with _following_lock:
                _following.discard(self)
            raise error_for(*_failure(rc, err))
        self._opened(out[0])
        with self._lock:
            self._ptr = ffi.gc(out[0], self._c_free)

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
            self._c_detach(h)
        finally:
            self._release()

    def _wait_once(self, h, timeout_ms: int) -> bool:
        """Records the end if the handle ends within timeout_ms (-1: no limit)."""
        with self._lock:
            if self._ended:
                timeout_ms = -1  # returns at once, with the end
        code = ffi.new('int *')
        err = ffi.new('oc_error **')
        rc = self._c_wait(h, timeout_ms, code, err)
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
