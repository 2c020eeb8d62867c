"""_agent.py: the blocking layer of agent sessions (docs/agent-sessions.md):
as thin as _core.py, and run in worker threads by the async API.

An agent session is followed as an exec session is (_stream.py), with
oc_agent_session for a handle: its events come as dicts, parsed on the
handle's thread."""
import json
import threading
from collections import deque
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from ._core import ExecSessionInfo, Handle, _pairs
from ._cstr import _CStrings
from ._oc import ffi, lib
from ._stream import ECANCELLED, Follow, Stream
from .errors import InvalidArgumentError

#: Python's names of the SDK's settings (SandboxAgentConfig); other keys
#: go to the program as they are given
SETTINGS = {'model': 'model', 'system_prompt': 'systemPrompt', 'allowed_tools': 'allowedTools',
            'permission_mode': 'permissionMode', 'max_turns': 'maxTurns', 'cwd': 'cwd',
            'mcp_servers': 'mcpServers', 'resume': 'resume'}

#: events kept for iteration that nobody has taken yet, at most
BACKLOG_MAX = 10000


def settings_in(arguments: Mapping[str, Any]) -> Dict[str, Any]:
    """The settings among a start() call's arguments (its locals())."""
    return {key: arguments[key] for key in SETTINGS if key in arguments}


def config_json(settings: Mapping[str, Any]) -> Optional[str]:
    """settings (snake_case or the SDK's names; None values left out) as the
    JSON object of a configure command; None if none is left."""
    out: Dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        name = SETTINGS.get(key, key)
        if name in out:
            raise InvalidArgumentError("agent setting '%s' is given twice" % name, -1)
        out[name] = value
    if not out:
        return None
    try:
        return json.dumps(out)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError('agent settings must be JSON values (str, number, bool, '
                                   'list, dict): %s' % e, -1) from None


@ffi.def_extern()
def _oc_on_agent_event(type_, line, user_data):
    text = ffi.string(line).decode('utf-8', 'replace')
    try:
        event = json.loads(text)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        # the library passes JSON objects only; keep the line if that changes
        event = {'type': ffi.string(type_).decode('utf-8', 'replace'), 'raw': text}
    ffi.from_handle(user_data).fns[0](event)


class AgentStream(Stream):
    """One oc_agent_session: on_event(dict), on_stderr(bytes),
    on_replay_end(), on_end(status, exit_code), on the handle's thread.
    detach() is oc_agent_detach(): after it the handle ends with
    OC_ECANCELLED, as an exec handle does after oc_exec_detach()."""

    _C_OUT = 'oc_agent_session **'
    _c_wait = staticmethod(lib.oc_agent_wait)
    _c_detach = staticmethod(lib.oc_agent_detach)
    _c_free = staticmethod(lib.oc_agent_close)

    def __init__(self, on_event: Optional[Callable], on_stderr: Optional[Callable],
                 on_replay_end: Optional[Callable], on_end: Optional[Callable]):
        super().__init__(on_event, on_stderr, on_replay_end, on_end)

    def _callbacks(self):
        on_event, on_stderr, on_replay_end = self.fns[:3]
        cb = ffi.new('oc_agent_callbacks *')
        cb.version = lib.OC_AGENT_CALLBACKS_VERSION
        cb.on_event = lib._oc_on_agent_event if on_event else ffi.NULL
        cb.on_stderr = lib._oc_on_stderr if on_stderr else ffi.NULL
        cb.on_replay_end = lib._oc_on_replay_end if on_replay_end else ffi.NULL
        cb.on_end = lib._oc_on_end
        cb.user_data = self._ud
        return cb

    def _opened(self, ptr) -> None:
        self.session_id = lib.oc_agent_session_id(ptr)

    def _gone(self, what: str) -> str:
        return 'cannot %s agent session %d: it has ended or was closed' % (what,
                                                                            self.session_id)

    def _free(self, ptr) -> None:
        super()._free(ptr)
        # oc_agent_close() calls no on_end: tell the end it would have told
        with self._lock:
            if self._ended:
                return
            self._end = (ECANCELLED, 0, 'agent session %d is no longer followed: close() was '
                         'called; attach() follows it again' % self.session_id)
        self.ended(ECANCELLED, 0)

    def send_prompt(self, text: str) -> None:
        self._call('send a prompt to', lib.oc_agent_send_prompt, text.encode())

    def interrupt(self) -> None:
        self._call('interrupt', lib.oc_agent_interrupt)

    def configure(self, settings: Mapping[str, Any]) -> None:
        cfg = config_json(settings) or '{}'
        self._call('configure', lib.oc_agent_configure, cfg.encode())


class Backlog:
    """The events that `for event in session` has not taken yet: at most
    BACKLOG_MAX, the oldest dropped beyond (take() then first gives an
    error event whose lost_events says how many).  Written on one thread,
    read on another."""

    def __init__(self):
        self._cond = threading.Condition()
        self._events: deque = deque()
        self._dropped = 0
        self.ended = False
        #: called after each change, on the writer's thread
        self.on_change: Optional[Callable[[], None]] = None

    def _changed(self) -> None:
        self._cond.notify_all()
        if self.on_change:
            self.on_change()

    def put(self, event: dict) -> None:
        with self._cond:
            if len(self._events) >= BACKLOG_MAX:
                self._events.popleft()
                self._dropped += 1
            self._events.append(event)
            self._changed()

    def end(self) -> None:
        with self._cond:
            self.ended = True
            self._changed()

    def take(self, block: bool) -> Optional[dict]:
        """The next event; None once the session has ended and all are
        taken (or, without block, when none is waiting)."""
        with self._cond:
            while True:
                if self._dropped:
                    n, self._dropped = self._dropped, 0
                    return {'type': 'error', 'source': 'host', 'lost_events': n,
                            'message': '%d events were dropped: more than %d waited to be '
                                       'iterated' % (n, BACKLOG_MAX)}
                if self._events:
                    return self._events.popleft()
                if self.ended or not block:
                    return None
                self._cond.wait()


class AgentFollow(Follow):
    """A caller's callbacks for one agent session, the SDK's: on_event(dict)
    for every event, on_error(str) for the program's stderr and for lines
    that were not events ('non-JSON stdout: LINE'), on_scrollback_end(),
    on_exit(exit_code); and the backlog that iteration takes from."""

    def __init__(self, on_event: Optional[Callable], on_error: Optional[Callable],
                 on_scrollback_end: Optional[Callable], on_exit: Optional[Callable]):
        super().__init__(None, on_error, on_scrollback_end, on_exit, 'utf-8')
        self._on_event = on_event
        self._on_error = on_error
        self.backlog = Backlog()

    def event(self, event: dict) -> None:
        self.backlog.put(event)
        if self._on_event:
            self._on_event(event)
        if self._on_error and event.get('type') == 'error' and event.get('source') == 'host':
            raw = event.get('raw')
            self._on_error('non-JSON stdout: ' + raw if isinstance(raw, str)
                           else str(event.get('message', '')))

    def ended(self, status: int, exit_code: int) -> None:
        try:
            super().ended(status, exit_code)
        finally:
            self.backlog.end()


def start(h: Handle, stream: AgentStream, prompt: Optional[str], program: Optional[str],
          args: Optional[Sequence[str]], envs: Optional[Dict[str, str]],
          settings: Mapping[str, Any]) -> None:
    """oc_agent_start; settings as for config_json(), of which model,
    system_prompt, max_turns and cwd have fields of their own."""
    rest = dict(settings)
    opts = ffi.new('oc_agent_options *')
    opts.version = lib.OC_AGENT_OPTIONS_VERSION
    keep = []

    def cstr(value: Optional[str]):
        if value is None:
            return ffi.NULL
        keep.append(ffi.new('char[]', value.encode()))
        return keep[-1]
    opts.program, opts.prompt = cstr(program), cstr(prompt)
    opts.model = cstr(rest.pop('model', None))
    opts.system_prompt = cstr(rest.pop('system_prompt', None))
    opts.cwd = cstr(rest.pop('cwd', None))
    turns = rest.pop('max_turns', None)
    if turns is not None:
        if not isinstance(turns, int) or isinstance(turns, bool) or not 0 < turns < 2**32:
            raise InvalidArgumentError('max_turns must be a positive integer, not %r'
                                       % (turns,), -1)
        opts.max_turns = turns
    opts.config_json = cstr(config_json(rest))
    a, e = _CStrings(list(args) if args is not None else None), _CStrings(_pairs(envs))
    opts.args, opts.envs = a.ptr, e.ptr
    stream.open(lib.oc_agent_start, h._sb, opts)


def attach(h: Handle, stream: AgentStream, session_id: int) -> None:
    stream.open(lib.oc_agent_attach, h._sb, session_id)


def list_of(h: Handle) -> List[ExecSessionInfo]:
    return h.exec_list(lib.oc_agent_list)


def kill(h: Handle, session_id: int, signal: Optional[int]) -> None:
    h._call(lib.oc_agent_kill, session_id, signal or 0)
