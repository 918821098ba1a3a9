"""The services, protocols, networks and hosts databases, and host names.

This module is a facade: it only re-exports names from private modules. Look-ups
give the C library's answers (``getservbyname``, ``getprotobynumber``,
``getnetbyname``, ...) from the same files; :func:`resolve` and :func:`reverse`
are ``async`` and never block the event loop.
"""

from ._foundation._hostnames import host_name, resolve, reverse
from ._foundation._netdb import (
    DEFAULT_PATHS,
    hosts,
    load_hosts,
    load_networks,
    load_protocols,
    load_services,
    network_by_address,
    network_by_name,
    networks,
    protocol_by_name,
    protocol_by_number,
    protocols,
    service_by_name,
    service_by_port,
    services,
)
from ._foundation._netdb_parse import (
    parse_hosts,
    parse_networks,
    parse_protocols,
    parse_services,
)
from ._foundation._netdb_records import (
    Host,
    Network,
    ParseResult,
    Problem,
    Protocol,
    Service,
)

__all__ = [
    "DEFAULT_PATHS",
    "Host",
    "Network",
    "ParseResult",
    "Problem",
    "Protocol",
    "Service",
    "host_name",
    "hosts",
    "load_hosts",
    "load_networks",
    "load_protocols",
    "load_services",
    "network_by_address",
    "network_by_name",
    "networks",
    "parse_hosts",
    "parse_networks",
    "parse_protocols",
    "parse_services",
    "protocol_by_name",
    "protocol_by_number",
    "protocols",
    "resolve",
    "reverse",
    "service_by_name",
    "service_by_port",
    "services",
]
