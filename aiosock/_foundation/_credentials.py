"""Process credentials, as the kernel reports them for a local-namespace peer."""

from __future__ import annotations

import attrs

__all__ = ["Credentials"]

_MAX_ID = 2**32 - 1


def _check_id(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"'{attribute.name}' must be an int (got {type(value).__name__} {value!r})"
        )
    low = -(2**31) if attribute.name == "pid" else 0
    high = 2**31 - 1 if attribute.name == "pid" else _MAX_ID
    if not low <= value <= high:
        raise ValueError(f"'{attribute.name}' must be in {low}..{high} (got {value})")


@attrs.frozen
class Credentials:
    """The process id, user id and group id of a peer (``struct ucred``).

    A local-namespace socket learns these from the kernel (``SO_PEERCRED``) for the
    process that connected (or created the socket pair), not from anything the peer
    sends.

    Attributes:
        pid: The peer's process id.
        uid: The peer's effective user id.
        gid: The peer's effective group id.
    """

    pid: int = attrs.field(validator=_check_id)
    uid: int = attrs.field(validator=_check_id)
    gid: int = attrs.field(validator=_check_id)
