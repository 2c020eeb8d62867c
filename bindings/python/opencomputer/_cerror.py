"""_cerror.py: C errors (oc_error) to the exception tree of errors.py, for
_core.py and the modules beside it."""
from typing import Tuple

from ._oc import ffi, lib
from .errors import error_for

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
