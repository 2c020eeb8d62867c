"""_template.py: the blocking layer of templates (see _core.py: as thin, and
run in worker threads by the async API)."""
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ._checkpoint import _ctx_call, _ctx_call_out
from ._core import _pairs, _str
from ._cstr import _CStrings
from ._oc import ffi, lib
from .errors import InvalidArgumentError


@dataclass
class TemplateInfo:
    """A template: the root filesystem sandboxes start from."""
    name: str
    #: the template it was built from; None for one built from a root
    #: filesystem (such as base)
    parent: Optional[str]
    created_at: datetime
    #: its disk's size
    size_bytes: int
    #: what its own files (disk versions, ready snapshot) take on the host
    disk_bytes: int
    #: how it was built from its parent, a line a step
    steps: List[str] = field(default_factory=list)
    #: what its sandboxes' execs get by default: its ENV, WORKDIR and USER
    #: (None when not set)
    env: Dict[str, str] = field(default_factory=dict)
    workdir: Optional[str] = None
    user: Optional[str] = None
    #: the agent program and arguments its sandboxes' agent sessions run
    #: when agent.start() names none (None: the reference runner)
    agent: Optional[List[str]] = None
    #: the root filesystem tarball it was imported from (absolute), or None
    #: for one built or made otherwise
    imported_from: Optional[str] = None

    # the OpenComputer SDK's TemplateInfo, as oc-server reports it: a
    # template is named by its name, has one tag, and exists once built

    @property
    def template_id(self) -> str:
        return self.name

    @property
    def tag(self) -> str:
        return 'latest'

    @property
    def status(self) -> str:
        return 'ready'


_KINDS = {'run': 'OC_BUILD_STEP_RUN', 'apt': 'OC_BUILD_STEP_APT', 'copy': 'OC_BUILD_STEP_COPY',
          'env': 'OC_BUILD_STEP_ENV', 'workdir': 'OC_BUILD_STEP_WORKDIR',
          'user': 'OC_BUILD_STEP_USER', 'agent': 'OC_BUILD_STEP_AGENT'}


@dataclass
class BuildStep:
    """One step of a template build (oc_build_step), as a Dockerfile's
    instruction of the same name: BuildStep.run('make'),
    BuildStep.run(['make', 'install']) (argv, no shell),
    BuildStep.apt('jq', 'curl'), BuildStep.copy('app', '/app',
    chown='nobody', chmod=0o755) (sources relative to context_dir),
    BuildStep.env('K', 'V'), BuildStep.workdir('/app'),
    BuildStep.user('nobody'), BuildStep.agent('/usr/local/bin/my-agent',
    '--jsonl') (the agent program of its sandboxes' agent sessions; LABEL
    opencomputer.agent in a Dockerfile).  A mapping with these fields works
    too."""
    #: run, apt, copy, env, workdir, user or agent
    kind: str
    #: as the kind says (include/opencomputer.h, oc_build_step_kind)
    args: List[str]
    #: copy: USER[:GROUP] of what is copied (default root)
    chown: Optional[str] = None
    #: copy: its permission bits (0: the sources')
    chmod: int = 0
    #: run: args are the program and its arguments, run without a shell
    exec_form: bool = False

    @classmethod
    def run(cls, command: Union[str, Sequence[str]]) -> 'BuildStep':
        if isinstance(command, str):
            return cls('run', [command])
        return cls('run', list(command), exec_form=True)

    @classmethod
    def apt(cls, *packages: str) -> 'BuildStep':
        return cls('apt', list(packages))

    @classmethod
    def copy(cls, *paths: str, chown: Optional[str] = None, chmod: int = 0) -> 'BuildStep':
        """copy(source..., destination)"""
        return cls('copy', list(paths), chown=chown, chmod=chmod)

    @classmethod
    def env(cls, key: str, value: str) -> 'BuildStep':
        return cls('env', [key, value])

    @classmethod
    def workdir(cls, path: str) -> 'BuildStep':
        return cls('workdir', [path])

    @classmethod
    def user(cls, user: str) -> 'BuildStep':
        return cls('user', [user])

    @classmethod
    def agent(cls, program: str, *args: str) -> 'BuildStep':
        return cls('agent', [program, *args])


StepLike = Union[BuildStep, Mapping[str, Any]]


def _strv(strv) -> Optional[List[str]]:
    """A NULL-terminated char ** as a list (None for NULL)."""
    if strv == ffi.NULL:
        return None
    out = []
    i = 0
    while strv[i] != ffi.NULL:
        out.append(ffi.string(strv[i]).decode('utf-8', 'replace'))
        i += 1
    return out


def _template(p) -> TemplateInfo:
    return TemplateInfo(
        name=_str(lib.oc_template_info_name(p)),
        parent=_str(lib.oc_template_info_parent(p)),
        created_at=datetime.fromtimestamp(lib.oc_template_info_created_at(p), timezone.utc),
        size_bytes=lib.oc_template_info_size_bytes(p),
        disk_bytes=lib.oc_template_info_disk_bytes(p),
        steps=_strv(lib.oc_template_info_steps(p)) or [],
        env=dict(kv.split('=', 1) for kv in _strv(lib.oc_template_info_env(p)) or []),
        workdir=_str(lib.oc_template_info_workdir(p)),
        user=_str(lib.oc_template_info_user(p)),
        agent=_strv(lib.oc_template_info_agent(p)),
        imported_from=_str(lib.oc_template_info_imported_from(p)))


def get(name: str) -> TemplateInfo:
    out = ffi.new('oc_template_info **')
    _ctx_call_out(lib.oc_template_get, out, name.encode())
    try:
        return _template(out[0])
    finally:
        lib.oc_template_info_free(out[0])


def list_all() -> List[TemplateInfo]:
    """By name."""
    out = ffi.new('oc_template_list **')
    _ctx_call_out(lib.oc_template_list_get, out, 0)
    try:
        return [_template(lib.oc_template_list_at(out[0], i))
                for i in range(lib.oc_template_list_count(out[0]))]
    finally:
        lib.oc_template_list_free(out[0])


def delete(name: str) -> None:
    _ctx_call(lib.oc_template_delete, name.encode(), 0)


def _step(step: StepLike, i: int) -> BuildStep:
    if isinstance(step, BuildStep):
        return step
    try:
        return BuildStep(**step)
    except TypeError as e:
        raise InvalidArgumentError('step %d: %s; a step is a BuildStep or a mapping of kind, '
                                   'args, chown, chmod, exec_form' % (i + 1, e), -1) from None


class _CSteps:
    """An oc_build_step[] that lives as long as this object.  The kinds and
    arguments go to the C library as they are: it checks them, and names a
    bad step in its error."""

    def __init__(self, steps: Sequence[StepLike]):
        self._keep: list = []
        self.ptr = ffi.new('oc_build_step[]', len(steps))
        for i, given in enumerate(steps):
            step = _step(given, i)
            kind = _KINDS.get(step.kind)
            if kind is None:
                raise InvalidArgumentError("step %d: no kind '%s'; the kinds are %s"
                                           % (i + 1, step.kind, ', '.join(_KINDS)), -1)
            args = [step.args] if isinstance(step.args, str) else list(step.args)
            c = self.ptr[i]
            c.kind = getattr(lib, kind)
            a = _CStrings(args)
            c.args = a.ptr
            self._keep.append(a)
            if step.chown is not None:
                self._keep.append(ffi.new('char[]', step.chown.encode()))
                c.chown = self._keep[-1]
            c.chmod = step.chmod
            c.flags = lib.OC_BUILD_STEP_EXEC_FORM if step.exec_form else 0


@ffi.def_extern()
def _oc_on_build_log(line, user_data):
    ffi.from_handle(user_data)(ffi.string(line).decode('utf-8', 'replace'))


def build(name: str, dockerfile: Optional[str], steps: Optional[Sequence[StepLike]],
          context_dir: Optional[str], build_args: Optional[Dict[str, str]],
          on_log: Optional[Callable[[str], None]], parent: Optional[str],
          cpu_count: Optional[int], memory_mb: Optional[int],
          step_timeout: Optional[int]) -> TemplateInfo:
    """oc_template_build, then the template it made.  on_log runs on this
    thread, during the call."""
    if (dockerfile is None) == (steps is None):
        raise InvalidArgumentError('build %s: give a dockerfile or steps, not %s'
                                   % (name, 'both' if steps is not None else 'neither'), -1)
    opts = ffi.new('oc_template_build_options *')
    _check_init(lib.oc_template_build_options_init(opts, lib.OC_TEMPLATE_BUILD_OPTIONS_VERSION),
                'oc_template_build_options_init')
    keep: list = []

    def cstr(value: Optional[str]):
        if value is None:
            return ffi.NULL
        keep.append(ffi.new('char[]', value.encode()))
        return keep[-1]
    opts.dockerfile, opts.context_dir, opts.parent = (cstr(dockerfile), cstr(context_dir),
                                                      cstr(parent))
    ba = _CStrings(_pairs(build_args))
    opts.build_args = ba.ptr
    cs = _CSteps(steps or [])
    if steps is not None:
        opts.steps, opts.step_count = cs.ptr, len(steps)
    if cpu_count is not None:
        opts.cpu_count = cpu_count
    if memory_mb is not None:
        opts.memory_mb = memory_mb
    if step_timeout is not None:
        opts.step_timeout_s = step_timeout
    log_handle = _set_log(opts, on_log)
    _ctx_call(lib.oc_template_build, name.encode(), opts)
    del log_handle  # alive until here: the library called on_log through it
    return get(name)


def _set_log(opts, on_log: Optional[Callable[[str], None]]):
    """Points opts.log (of build or import options) at on_log; the handle
    returned must outlive the call."""
    if on_log is None:
        return None
    ud = ffi.new_handle(on_log)
    opts.log, opts.log_user_data = lib._oc_on_build_log, ud
    return ud


def _check_init(rc: int, what: str) -> None:
    if rc < 0:
        raise InvalidArgumentError('%s failed (%d): the library is older than this binding'
                                   % (what, rc), rc)


def import_rootfs(name: str, tar_path: str, prepare: bool,
                  on_log: Optional[Callable[[str], None]]) -> TemplateInfo:
    """oc_template_import, then the template it made.  on_log runs on this
    thread, during the call."""
    opts = ffi.new('oc_template_import_options *')
    _check_init(lib.oc_template_import_options_init(opts, lib.OC_TEMPLATE_IMPORT_OPTIONS_VERSION),
                'oc_template_import_options_init')
    opts.prepare = 1 if prepare else 0
    log_handle = _set_log(opts, on_log)
    _ctx_call(lib.oc_template_import, name.encode(), os.fsencode(tar_path), opts)
    del log_handle  # alive until here: the library called on_log through it
    return get(name)


@dataclass
class PruneResult:
    """What Templates.prune() did to the build layer cache."""
    #: the layers removed
    removed: int
    #: what they took on the host
    bytes_freed: int
    #: the layers left
    kept: int


def prune(keep_days: int) -> PruneResult:
    """oc_template_prune."""
    if keep_days < 0:
        raise InvalidArgumentError('prune: keep_days is %d; give 0 or more days' % keep_days, -1)
    opts = ffi.new('oc_template_prune_options *')
    _check_init(lib.oc_template_prune_options_init(opts, lib.OC_TEMPLATE_PRUNE_OPTIONS_VERSION),
                'oc_template_prune_options_init')
    opts.keep_days = keep_days
    removed, freed, kept = ffi.new('uint32_t *'), ffi.new('uint64_t *'), ffi.new('uint32_t *')
    _ctx_call(lib.oc_template_prune, opts, removed, freed, kept)
    return PruneResult(removed=removed[0], bytes_freed=freed[0], kept=kept[0])
