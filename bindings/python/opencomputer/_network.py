"""_network.py: a sandbox's egress policy (docs/network.md), between
Python values and oc_network_policy.  The entries go to the C library as
they are: it checks them, and names a bad one in its error."""
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Union

from ._cstr import _CStrings, _str
from ._oc import ffi, lib
from .errors import InvalidArgumentError


@dataclass
class NetworkPolicy:
    """Which destinations the guest may connect or send to, enforced by the
    host kernel, so root in the guest cannot lift it.

    Entries: 'A.B.C.D', 'A.B.C.D/N' or a host name (resolved on the host
    when the policy is set and at every start of the VM), each optionally
    followed by ':PORT'.  '10.0.2.2', where the guest sees the host, stands
    for the host's loopback.  allow_out entries are always allowed, deny_out
    entries denied; what neither names is denied when block_all is set or
    allow_out has entries, allowed otherwise.  The most specific entry
    decides."""
    allow_out: List[str] = field(default_factory=list)
    deny_out: List[str] = field(default_factory=list)
    block_all: bool = False


#: A NetworkPolicy, or a mapping with its keys in snake_case (allow_out) or
#: in the OpenComputer SDK's camelCase (allowOut).
NetworkLike = Union[NetworkPolicy, Mapping[str, Any]]

_KEYS = {'allow_out': 'allow_out', 'allowOut': 'allow_out', 'deny_out': 'deny_out',
         'denyOut': 'deny_out', 'block_all': 'block_all', 'blockAll': 'block_all'}


def _entries(value: Any, key: str) -> List[str]:
    # a lone string would otherwise become a list of one-character entries
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not all(isinstance(e, str) for e in value):
        raise InvalidArgumentError('network %s must be a list of strings, not %r'
                                   % (key, value), -1)
    return list(value)


def coerce(value: Optional[NetworkLike]) -> Optional[NetworkPolicy]:
    """value as a NetworkPolicy (None stays None)."""
    if value is None or isinstance(value, NetworkPolicy):
        return value
    fields: dict = {}
    for key, v in value.items():
        name = _KEYS.get(key)
        if name is None:
            raise InvalidArgumentError("network has no key '%s'; the keys are allow_out, "
                                       "deny_out and block_all (or allowOut, denyOut, blockAll)"
                                       % key, -1)
        if name in fields:
            raise InvalidArgumentError("network key '%s' is given twice" % name, -1)
        fields[name] = bool(v) if name == 'block_all' else _entries(v, key)
    return NetworkPolicy(**fields)


class CPolicy:
    """An oc_network_policy * (NULL for None) that lives as long as this
    object."""

    def __init__(self, policy: Optional[NetworkPolicy]):
        self.ptr = ffi.NULL
        if policy is None:
            return
        self._allow = _CStrings(_entries(policy.allow_out, 'allow_out'))
        self._deny = _CStrings(_entries(policy.deny_out, 'deny_out'))
        self.ptr = ffi.new('oc_network_policy *')
        self.ptr.version = lib.OC_NETWORK_POLICY_VERSION
        self.ptr.allow_out, self.ptr.deny_out = self._allow.ptr, self._deny.ptr
        self.ptr.block_all = 1 if policy.block_all else 0


def policy_of(info) -> NetworkPolicy:
    """The policy an oc_sandbox_info * reports."""
    return NetworkPolicy(
        allow_out=[_str(lib.oc_sandbox_info_allow_out_at(info, i))
                   for i in range(lib.oc_sandbox_info_allow_out_count(info))],
        deny_out=[_str(lib.oc_sandbox_info_deny_out_at(info, i))
                  for i in range(lib.oc_sandbox_info_deny_out_count(info))],
        block_all=bool(lib.oc_sandbox_info_block_all(info)))
