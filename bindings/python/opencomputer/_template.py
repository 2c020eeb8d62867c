"""_template.py: the blocking layer of templates (see _core.py: as thin, and
run in worker threads by the async API)."""
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import List, Optional

from ._checkpoint import _ctx_call, _ctx_call_out
from ._core import _str
from ._oc import ffi, lib


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


def _steps(p) -> List[str]:
    steps = lib.oc_template_info_steps(p)
    out = []
    i = 0
    while steps != ffi.NULL and steps[i] != ffi.NULL:
        out.append(ffi.string(steps[i]).decode('utf-8', 'replace'))
        i += 1
    return out


def _template(p) -> TemplateInfo:
    return TemplateInfo(
        name=_str(lib.oc_template_info_name(p)),
        parent=_str(lib.oc_template_info_parent(p)),
        created_at=datetime.fromtimestamp(lib.oc_template_info_created_at(p), timezone.utc),
        size_bytes=lib.oc_template_info_size_bytes(p),
        disk_bytes=lib.oc_template_info_disk_bytes(p),
        steps=_steps(p))


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
