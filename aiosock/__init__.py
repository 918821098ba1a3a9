"""aiosock: the sockets chapter of a C library's manual as an asyncio framework.

This module is the public facade: it only re-exports names from private modules.
"""

from . import interfaces as interfaces
from . import netdb as netdb
from . import options as options
from ._core._protocols import BufferedAdapter as BufferedAdapter
from ._core._protocols import connect_protocol as connect_protocol
from ._core._protocols import serve_protocol as serve_protocol
from ._core._server import Server as Server
from ._foundation._addresses import HostAddress as HostAddress
from ._foundation._addresses import Inet6Address as Inet6Address
from ._foundation._addresses import InetAddress as InetAddress
from ._foundation._addresses import LocalAddress as LocalAddress
from ._foundation._addresses import from_sockaddr as from_sockaddr
from ._foundation._concepts import Namespace as Namespace
from ._foundation._concepts import Style as Style
from ._foundation._credentials import Credentials as Credentials
from ._foundation._endpoints import Endpoint as Endpoint
from ._foundation._endpoints import as_endpoint as as_endpoint
from ._foundation._endpoints import parse_endpoint as parse_endpoint
from ._foundation._errors import AddressError as AddressError
from ._foundation._errors import AiosockError as AiosockError
from ._foundation._errors import BrokenResourceError as BrokenResourceError
from ._foundation._errors import BusyResourceError as BusyResourceError
from ._foundation._errors import ClosedResourceError as ClosedResourceError
from ._foundation._errors import ConfigError as ConfigError
from ._foundation._errors import IncompleteReadError as IncompleteReadError
from ._foundation._errors import InterfaceError as InterfaceError
from ._foundation._errors import MessageTooLargeError as MessageTooLargeError
from ._foundation._errors import OptionError as OptionError
from ._foundation._errors import ResolutionError as ResolutionError
from ._foundation._loop import run as run
from ._highlevel._api import connect as connect
from ._highlevel._api import serve as serve
from ._highlevel._api import stream_pair as stream_pair
from ._highlevel._api import wrap_socket as wrap_socket
from ._highlevel._datagram import DatagramSocket as DatagramSocket
from ._highlevel._datagram_api import datagram_pair as datagram_pair
from ._highlevel._datagram_api import open_datagram as open_datagram
from ._highlevel._datagram_server import DatagramServer as DatagramServer
from ._highlevel._datagram_server import serve_datagram as serve_datagram
from ._highlevel._local import DescriptorsLostError as DescriptorsLostError
from ._highlevel._local import LocalMessage as LocalMessage
from ._highlevel._packet_api import connect_packets as connect_packets
from ._highlevel._packet_api import packet_pair as packet_pair
from ._highlevel._packet_api import serve_packets as serve_packets
from ._highlevel._packets import PacketStream as PacketStream
from ._highlevel._raw import RawSocket as RawSocket
from ._highlevel._raw import open_raw as open_raw
from ._highlevel._stream import Stream as Stream
from ._version import __version__ as __version__

__all__ = [
    "AddressError",
    "AiosockError",
    "BrokenResourceError",
    "BufferedAdapter",
    "BusyResourceError",
    "ClosedResourceError",
    "ConfigError",
    "Credentials",
    "DatagramServer",
    "DatagramSocket",
    "DescriptorsLostError",
    "Endpoint",
    "HostAddress",
    "IncompleteReadError",
    "Inet6Address",
    "InetAddress",
    "InterfaceError",
    "LocalAddress",
    "LocalMessage",
    "MessageTooLargeError",
    "Namespace",
    "OptionError",
    "PacketStream",
    "RawSocket",
    "ResolutionError",
    "Server",
    "Stream",
    "Style",
    "__version__",
    "as_endpoint",
    "connect",
    "connect_packets",
    "connect_protocol",
    "datagram_pair",
    "from_sockaddr",
    "interfaces",
    "netdb",
    "open_datagram",
    "open_raw",
    "options",
    "packet_pair",
    "parse_endpoint",
    "run",
    "serve",
    "serve_datagram",
    "serve_packets",
    "serve_protocol",
    "stream_pair",
    "wrap_socket",
]
