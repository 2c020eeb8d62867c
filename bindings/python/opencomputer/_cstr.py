"""_cstr.py: C strings for the cffi calls of _core.py and the modules
beside it."""
from typing import Optional, Sequence

from ._oc import ffi


def _str(p) -> Optional[str]:
    return None if p == ffi.NULL else ffi.string(p).decode('utf-8', 'replace')


class _CStrings:
    """A NULL-terminated char* array that lives as long as this object."""

    def __init__(self, items: Optional[Sequence[str]]):
        self._keep = [ffi.new('char[]', s.encode()) for s in items or []]
        self.ptr = ffi.new('char *[]', self._keep + [ffi.NULL]) if items is not None else ffi.NULL
