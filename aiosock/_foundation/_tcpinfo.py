"""``TCP_INFO``: the kernel's view of a TCP connection, decoded into a record.

Strategy: a table of ``(field, offset, struct code)`` taken from ``struct tcp_info``
in ``<linux/tcp.h>`` drives :func:`decode_tcp_info`. The kernel copies
``min(buffer, sizeof(struct tcp_info))`` bytes, so an older kernel returns a shorter
structure: the fields it did not fill are ``None`` rather than a made-up zero. The
fields every kernel since 2.6 reports are plain ``int``.
"""

from __future__ import annotations

import enum
import struct
import sys
from typing import Any

import attrs

__all__ = ["TCP_INFO_SIZE", "TcpInfo", "TcpState", "decode_tcp_info"]


class TcpState(enum.IntEnum):
    """The state of a TCP connection (``TCP_ESTABLISHED``... in ``<netinet/tcp.h>``)."""

    ESTABLISHED = 1
    SYN_SENT = 2
    SYN_RECV = 3
    FIN_WAIT1 = 4
    FIN_WAIT2 = 5
    TIME_WAIT = 6
    CLOSE = 7
    CLOSE_WAIT = 8
    LAST_ACK = 9
    LISTEN = 10
    CLOSING = 11
    NEW_SYN_RECV = 12
    BOUND_INACTIVE = 13


@attrs.frozen
class TcpInfo:
    """What the kernel knows about a TCP connection (``struct tcp_info``).

    Times are in microseconds unless said otherwise, sizes in bytes, windows in
    segments, as the kernel reports them. Fields a kernel too old to report them
    left out are ``None``.

    Attributes:
        state: The connection state (a :class:`TcpState` where the kernel's value
            is a known one).
        ca_state: The congestion-avoidance state (0 open, 1 disorder, 2 CWR,
            3 recovery, 4 loss).
        retransmits: Unrecovered retransmission timeouts of the current segment.
        probes: Unanswered zero-window or keepalive probes.
        backoff: The exponential backoff of the retransmission timer.
        options: The negotiated options (``TCPI_OPT_*`` bits: 1 timestamps,
            2 SACK, 4 window scaling, 8 ECN).
        snd_wscale: The send window scale.
        rcv_wscale: The receive window scale.
        rto: The retransmission timeout.
        ato: The delayed-acknowledgement timeout.
        snd_mss: The maximum segment size for sending.
        rcv_mss: The estimated maximum segment size of the peer.
        unacked: Segments sent and not yet acknowledged.
        sacked: Segments selectively acknowledged.
        lost: Segments considered lost.
        retrans: Segments being retransmitted.
        last_data_sent: Milliseconds since data was last sent.
        last_data_recv: Milliseconds since data was last received.
        last_ack_recv: Milliseconds since an acknowledgement was last received.
        pmtu: The path MTU.
        rcv_ssthresh: The receive slow-start threshold.
        rtt: The smoothed round-trip time.
        rttvar: The round-trip time variation.
        snd_ssthresh: The send slow-start threshold.
        cwnd: The congestion window.
        advmss: The advertised maximum segment size.
        reordering: The reordering metric.
        rcv_rtt: The receiver's round-trip time estimate.
        rcv_space: The receive-buffer space the receiver measured.
        total_retrans: Retransmitted segments over the connection's life.
        pacing_rate: The pacing rate in bytes per second.
        bytes_acked: Bytes the peer acknowledged.
        bytes_received: Bytes received (and acknowledged by this side).
        segs_out: Segments sent.
        segs_in: Segments received.
        notsent_bytes: Bytes queued and not yet sent.
        min_rtt: The smallest round-trip time seen.
        delivery_rate: The most recent delivery rate in bytes per second.
        bytes_sent: Bytes sent, retransmissions included.
        bytes_retrans: Bytes retransmitted.
        snd_wnd: The peer's receive window after scaling.
    """

    state: TcpState | int
    ca_state: int
    retransmits: int
    probes: int
    backoff: int
    options: int
    snd_wscale: int
    rcv_wscale: int
    rto: int
    ato: int
    snd_mss: int
    rcv_mss: int
    unacked: int
    sacked: int
    lost: int
    retrans: int
    last_data_sent: int
    last_data_recv: int
    last_ack_recv: int
    pmtu: int
    rcv_ssthresh: int
    rtt: int
    rttvar: int
    snd_ssthresh: int
    cwnd: int
    advmss: int
    reordering: int
    rcv_rtt: int
    rcv_space: int
    total_retrans: int
    pacing_rate: int | None = None
    bytes_acked: int | None = None
    bytes_received: int | None = None
    segs_out: int | None = None
    segs_in: int | None = None
    notsent_bytes: int | None = None
    min_rtt: int | None = None
    delivery_rate: int | None = None
    bytes_sent: int | None = None
    bytes_retrans: int | None = None
    snd_wnd: int | None = None

    def __str__(self) -> str:
        state = self.state.name if isinstance(self.state, TcpState) else self.state
        return (
            f"state={state} rtt={self.rtt}us rttvar={self.rttvar}us "
            f"cwnd={self.cwnd} retransmits={self.retransmits} "
            f"total_retrans={self.total_retrans} snd_mss={self.snd_mss}"
        )


# (field, byte offset in struct tcp_info, struct code). Byte 6 holds the two
# 4-bit window scales and is decoded apart.
_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("state", 0, "B"),
    ("ca_state", 1, "B"),
    ("retransmits", 2, "B"),
    ("probes", 3, "B"),
    ("backoff", 4, "B"),
    ("options", 5, "B"),
    ("rto", 8, "I"),
    ("ato", 12, "I"),
    ("snd_mss", 16, "I"),
    ("rcv_mss", 20, "I"),
    ("unacked", 24, "I"),
    ("sacked", 28, "I"),
    ("lost", 32, "I"),
    ("retrans", 36, "I"),
    ("last_data_sent", 44, "I"),
    ("last_data_recv", 52, "I"),
    ("last_ack_recv", 56, "I"),
    ("pmtu", 60, "I"),
    ("rcv_ssthresh", 64, "I"),
    ("rtt", 68, "I"),
    ("rttvar", 72, "I"),
    ("snd_ssthresh", 76, "I"),
    ("cwnd", 80, "I"),
    ("advmss", 84, "I"),
    ("reordering", 88, "I"),
    ("rcv_rtt", 92, "I"),
    ("rcv_space", 96, "I"),
    ("total_retrans", 100, "I"),
    ("pacing_rate", 104, "Q"),
    ("bytes_acked", 120, "Q"),
    ("bytes_received", 128, "Q"),
    ("segs_out", 136, "I"),
    ("segs_in", 140, "I"),
    ("notsent_bytes", 144, "I"),
    ("min_rtt", 148, "I"),
    ("delivery_rate", 160, "Q"),
    ("bytes_sent", 200, "Q"),
    ("bytes_retrans", 208, "Q"),
    ("snd_wnd", 228, "I"),
)
#: The number of bytes :func:`decode_tcp_info` can use (up to ``tcpi_snd_wnd``).
TCP_INFO_SIZE = 232
#: Below this many bytes even the fields of the oldest kernels are missing.
_CORE_SIZE = 104
_WSCALE_OFFSET = 6


def decode_tcp_info(raw: bytes) -> TcpInfo:
    """Decode the bytes ``getsockopt(IPPROTO_TCP, TCP_INFO, n)`` returned.

    Args:
        raw: The structure as the kernel copied it (native byte order).

    Returns:
        The decoded record; fields beyond what the kernel copied are ``None``.

    Raises:
        ValueError: ``raw`` is too short to hold even the oldest ``tcp_info``.
    """
    if len(raw) < _CORE_SIZE:
        raise ValueError(
            f"expected at least {_CORE_SIZE} bytes of tcp_info, got {len(raw)}"
        )
    values: dict[str, Any] = {}
    for name, offset, code in _FIELDS:
        fmt = "=" + code
        if offset + struct.calcsize(fmt) <= len(raw):
            values[name] = struct.unpack_from(fmt, raw, offset)[0]
    scales = raw[_WSCALE_OFFSET]
    low, high = scales & 0x0F, scales >> 4
    # C bit-fields are laid out from the low bits on little-endian ABIs.
    snd, rcv = (low, high) if sys.byteorder == "little" else (high, low)
    state = values.pop("state")
    try:
        state_value: TcpState | int = TcpState(state)
    except ValueError:
        state_value = int(state)
    return TcpInfo(state=state_value, snd_wscale=snd, rcv_wscale=rcv, **values)
