"""aiosock inetd: a super-server that starts servers on request.

This module is a facade: it only re-exports names from private modules.
"""

from ._activation import PassedSocket as PassedSocket
from ._activation import notify as notify
from ._activation import take_listen_fds as take_listen_fds
from ._config import EXTENSION_PREFIX as EXTENSION_PREFIX
from ._config import ServiceLookup as ServiceLookup
from ._config import parse_inetd_conf as parse_inetd_conf
from ._daemon import Inetd as Inetd
from ._daemon import ServiceStatus as ServiceStatus
from ._datagrams import DatagramReplier as DatagramReplier
from ._default import DEFAULT_CONFIG as DEFAULT_CONFIG
from ._internal import chargen as chargen
from ._internal import chargen_datagram as chargen_datagram
from ._internal import daytime as daytime
from ._internal import daytime_datagram as daytime_datagram
from ._internal import discard as discard
from ._internal import discard_datagram as discard_datagram
from ._internal import echo as echo
from ._internal import echo_datagram as echo_datagram
from ._internal import time as time
from ._internal import time_datagram as time_datagram
from ._load import load_inetd_conf as load_inetd_conf
from ._records import BUILTINS as BUILTINS
from ._records import InetdConfig as InetdConfig
from ._records import Limits as Limits
from ._records import ServiceEntry as ServiceEntry

__all__ = [
    "BUILTINS",
    "DEFAULT_CONFIG",
    "EXTENSION_PREFIX",
    "DatagramReplier",
    "Inetd",
    "InetdConfig",
    "Limits",
    "PassedSocket",
    "ServiceEntry",
    "ServiceLookup",
    "ServiceStatus",
    "chargen",
    "chargen_datagram",
    "daytime",
    "daytime_datagram",
    "discard",
    "discard_datagram",
    "echo",
    "echo_datagram",
    "load_inetd_conf",
    "notify",
    "parse_inetd_conf",
    "take_listen_fds",
    "time",
    "time_datagram",
]
