"""The configuration ``aiosock inetd`` serves when given no file."""

from __future__ import annotations

__all__ = ["DEFAULT_CONFIG"]

#: The internal services on loopback high ports (the well-known port + 17000),
#: over TCP and UDP, IPv4 and IPv6.
DEFAULT_CONFIG = """\
# aiosock inetd's default configuration: the internal services on loopback.
# Run `aiosock inetd --config FILE` to serve your own (inetd.conf format).
127.0.0.1,::1:
17007   stream  tcp  nowait  nobody  internal  echo
17007   dgram   udp  wait    nobody  internal  echo
17009   stream  tcp  nowait  nobody  internal  discard
17009   dgram   udp  wait    nobody  internal  discard
17013   stream  tcp  nowait  nobody  internal  daytime
17013   dgram   udp  wait    nobody  internal  daytime
17019   stream  tcp  nowait  nobody  internal  chargen
17019   dgram   udp  wait    nobody  internal  chargen
17037   stream  tcp  nowait  nobody  internal  time
17037   dgram   udp  wait    nobody  internal  time
"""
