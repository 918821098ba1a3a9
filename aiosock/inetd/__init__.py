"""aiosock inetd: a super-server that starts servers on request.

This module is a facade: it only re-exports names from private modules.
"""

from ._config import EXTENSION_PREFIX as EXTENSION_PREFIX
from ._config import ServiceLookup as ServiceLookup
from ._config import parse_inetd_conf as parse_inetd_conf
from ._default import DEFAULT_CONFIG as DEFAULT_CONFIG
from ._load import load_inetd_conf as load_inetd_conf
from ._records import BUILTINS as BUILTINS
from ._records import InetdConfig as InetdConfig
from ._records import Limits as Limits
from ._records import ServiceEntry as ServiceEntry

__all__ = [
    "BUILTINS",
    "DEFAULT_CONFIG",
    "EXTENSION_PREFIX",
    "InetdConfig",
    "Limits",
    "ServiceEntry",
    "ServiceLookup",
    "load_inetd_conf",
    "parse_inetd_conf",
]
