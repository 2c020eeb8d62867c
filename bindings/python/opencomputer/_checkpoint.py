"""_checkpoint.py: the blocking layer of checkpoints, forks, template
snapshots and the warm pool (see _core.py: as thin, and run in worker
threads by the async API)."""
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Optional, Union

from ._core import Handle, _check, _CStrings, _pairs, _str, context
from ._network import CPolicy, NetworkPolicy
from ._oc import ffi, lib


@dataclass
class Checkpoint:
    """A sandbox's memory, CPU and disk state, kept apart from the sandbox
    (killing it keeps the checkpoint)."""
    id: str
    name: str
    #: the sandbox it was taken of
    sandbox_id: str
    template: str
    created_at: datetime
    #: memory image plus disk
    size_bytes: int
    cpu_count: int
    memory_mb: int


@dataclass
class PoolStatus:
    #: unclaimed pool sandboxes of the template on this host (any process's)
    ready: int
    #: how many this process's context keeps (0 without a pool)
    target: int


def _checkpoint(p) -> Checkpoint:
    return Checkpoint(
        id=_str(lib.oc_checkpoint_id(p)),
        name=_str(lib.oc_checkpoint_name(p)),
        sandbox_id=_str(lib.oc_checkpoint_sandbox_id(p)),
        template=_str(lib.oc_checkpoint_template(p)),
        created_at=datetime.fromtimestamp(lib.oc_checkpoint_created_at(p), timezone.utc),
        size_bytes=lib.oc_checkpoint_size_bytes(p),
        cpu_count=lib.oc_checkpoint_cpu_count(p),
        memory_mb=lib.oc_checkpoint_memory_mb(p))


def _owned(out) -> Checkpoint:
    """A Checkpoint from *out, which it frees."""
    try:
        return _checkpoint(out[0])
    finally:
        lib.oc_checkpoint_free(out[0])


def _ctx_call(fn, *args) -> None:
    """fn(ctx, *args, &error)"""
    err = ffi.new('oc_error **')
    _check(fn(context(), *args, err), err)


def _ctx_call_out(fn, out, *args) -> None:
    """fn(&out, ctx, *args, &error)"""
    err = ffi.new('oc_error **')
    _check(fn(out, context(), *args, err), err)


def create(h: Handle, name: str) -> Checkpoint:
    out = ffi.new('oc_checkpoint **')
    h._get(lib.oc_checkpoint_create, out, name.encode(), 0)
    return _owned(out)


def get(checkpoint_id: str) -> Checkpoint:
    out = ffi.new('oc_checkpoint **')
    _ctx_call_out(lib.oc_checkpoint_get, out, checkpoint_id.encode())
    return _owned(out)


def list_of(sandbox_id: Optional[str]) -> List[Checkpoint]:
    """Oldest first; sandbox_id None: all."""
    out = ffi.new('oc_checkpoint_list **')
    sid = sandbox_id.encode() if sandbox_id is not None else ffi.NULL
    _ctx_call_out(lib.oc_checkpoint_list_get, out, sid, 0)
    try:
        return [_checkpoint(lib.oc_checkpoint_list_at(out[0], i))
                for i in range(lib.oc_checkpoint_list_count(out[0]))]
    finally:
        lib.oc_checkpoint_list_free(out[0])


def delete(checkpoint_id: str) -> None:
    _ctx_call(lib.oc_checkpoint_delete, checkpoint_id.encode(), 0)


def restore(h: Handle, checkpoint_id: str) -> None:
    h._call(lib.oc_sandbox_restore_checkpoint, checkpoint_id.encode(), 0)


def fork(checkpoint_id: str, timeout: Optional[int], envs: Optional[Dict[str, str]],
         metadata: Optional[Dict[str, str]],
         count: Optional[int],
         network: Optional[NetworkPolicy] = None) -> Union[Handle, List[Handle]]:
    """One handle (oc_sandbox_create_from_checkpoint) when count is None,
    else a list of count or 1 (oc_sandbox_fork).  network None: the
    checkpointed sandbox's policy."""
    opts = ffi.new('oc_fork_options *')
    opts.version = lib.OC_FORK_OPTIONS_VERSION
    opts.timeout_s = lib.OC_TIMEOUT_DEFAULT if timeout is None else timeout
    e, m = _CStrings(_pairs(envs)), _CStrings(_pairs(metadata))
    opts.envs, opts.metadata = e.ptr, m.ptr
    net = CPolicy(network)
    opts.network = net.ptr
    cp = checkpoint_id.encode()
    if count is None:
        one = ffi.new('oc_sandbox **')
        _ctx_call_out(lib.oc_sandbox_create_from_checkpoint, one, cp, opts)
        return Handle(one[0])
    opts.count = count
    many = ffi.new('oc_sandbox ***')
    _ctx_call_out(lib.oc_sandbox_fork, many, cp, opts)
    try:
        # each Handle takes over one reference
        return [Handle(many[0][i]) for i in range(count or 1)]
    finally:
        lib.oc_free(many[0])


def template_prepare(template: str) -> bool:
    built = ffi.new('int *')
    _ctx_call(lib.oc_template_prepare, template.encode(), 0, built)
    return bool(built[0])


def template_snapshot_ready(template: str) -> bool:
    ready = ffi.new('int *')
    _ctx_call(lib.oc_template_snapshot_ready, template.encode(), ready)
    return bool(ready[0])


def pool_status(template: str) -> PoolStatus:
    ready, target = ffi.new('uint32_t *'), ffi.new('uint32_t *')
    _ctx_call(lib.oc_pool_status, template.encode(), ready, target)
    return PoolStatus(ready=ready[0], target=target[0])
