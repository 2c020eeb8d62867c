"""errors.py: the exception tree.  Every error keeps the C library's message
and its code (an OC_E* value)."""


class SandboxError(Exception):
    """Any failure reported by libopencomputer."""

    def __init__(self, message: str, code: int = -14):
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidArgumentError(SandboxError, ValueError):
    """An argument is wrong; the message says which (OC_EINVAL)."""


class NotFoundError(SandboxError, LookupError):
    """No such sandbox, template or file (OC_ENOTFOUND)."""


class StateError(SandboxError):
    """The sandbox is in the wrong state for this, or what is to be deleted
    is still in use (a template that sandboxes, checkpoints or other
    templates build on: the message names them) (OC_ESTATE)."""


class TimeoutError(SandboxError, TimeoutError):  # noqa: A001 (shadows the builtin on purpose)
    """The operation did not finish in time (OC_ETIMEOUT)."""


class LimitError(SandboxError):
    """A size or count limit was hit (OC_ELIMIT)."""


class AlreadyExistsError(SandboxError, FileExistsError):
    """It already exists (OC_EEXISTS)."""


class PermissionDeniedError(SandboxError, PermissionError):
    """Permission denied (OC_EPERM)."""


class UnsupportedError(SandboxError):
    """Not supported by this host, guest or version (OC_EUNSUPPORTED)."""


class CommandError(SandboxError):
    """A command run for the call failed: a template build's step exited
    non-zero; the message names the step and quotes its exit code and last
    lines of output (OC_ECOMMAND)."""


_BY_CODE = {
    -1: InvalidArgumentError,
    -2: NotFoundError,
    -3: StateError,
    -4: TimeoutError,
    -8: LimitError,
    -9: AlreadyExistsError,
    -10: UnsupportedError,
    -13: PermissionDeniedError,
    -15: CommandError,
}


def error_for(code: int, message: str) -> SandboxError:
    return _BY_CODE.get(code, SandboxError)(message, code)
