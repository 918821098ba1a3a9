"""``Inetd``: a set of services an asyncio application starts, reloads and stops.

Strategy: the services are keyed by what identifies their sockets (service field,
socket type, protocol, hosts, port, buffer sizes). A reload compares the new file
with the running services by that key, as openbsd-inetd's ``config()`` does:

- a key that is gone: its sockets close (running children and connections go on);
- a new key: its sockets are bound and watched;
- a key in both whose line changed (program, arguments, user, wait, limits): the
  line is taken in place, the sockets stay open, so no connection is refused
  during the change;
- a key in both whose line is equal: nothing happens.

A service whose sockets cannot be bound (port in use, ...) or whose ``python:``
handler cannot be imported is logged with its name and left out; the others run.
Failed services are tried again after ``retry_time`` and at every reload.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from .._foundation._errors import AddressError
from .._foundation._interfaces import list_interfaces
from ._activation import PassedSocket, close_all
from ._binding import DEFAULT_BACKLOG, port_of
from ._config import parse_inetd_conf
from ._context import Context
from ._default import DEFAULT_CONFIG
from ._load import load_inetd_conf, netdb_lookup
from ._records import InetdConfig, ServiceEntry
from ._service import Service

if TYPE_CHECKING:
    import ipaddress

__all__ = ["Inetd", "ServiceStatus"]

logger = logging.getLogger("aiosock.inetd")

#: Threads that start programs at once (fork and exec block the calling thread).
_SPAWNERS = 4

ConfigSource = InetdConfig | str | os.PathLike[str]


@attrs.frozen
class ServiceStatus:
    """What one configured service is doing.

    Attributes:
        entry: Its line.
        endpoints: Where it listens (endpoint text such as ``tcp://127.0.0.1:7``);
            empty when it failed.
        error: Why it is not listening, or ``None``.
    """

    entry: ServiceEntry
    endpoints: tuple[str, ...] = ()
    error: str | None = None


def _broadcasts() -> frozenset[ipaddress.IPv4Address]:
    try:
        interfaces = list_interfaces()
    except OSError:
        return frozenset()
    found: set[ipaddress.IPv4Address] = set()
    for interface in interfaces:
        for address in interface.addresses:
            if address.broadcast is not None:
                found.add(address.broadcast)
    return frozenset(found)


class Inetd:
    """An inetd embedded in an asyncio application.

    Args:
        config: A parsed :class:`InetdConfig`, or the path of an inetd.conf file
            (read at :meth:`start` and again at each :meth:`reload`), or ``None``
            for the embedded default (the internal services on loopback).
        handlers: Handlers for ``python:NAME`` servers, by name (looked up before
            importing ``python:package.module:function``).
        rate: The ``.max`` of program lines that give none (openbsd-inetd's -R).
        retry_time: Seconds a service stays disabled past its ``.max``, and
            between attempts to bind a service that failed.
        backlog: The ``listen()`` backlog of stream services.
        inherited: Sockets passed by a service manager (``LISTEN_FDS``, see
            :func:`take_listen_fds`), used for the services bound to the same
            address.

    Use it as ``async with Inetd(config) as inetd: ...``, or call :meth:`start`
    and :meth:`aclose`.
    """

    def __init__(
        self,
        config: InetdConfig | str | os.PathLike[str] | None = None,
        *,
        handlers: Mapping[str, Callable[..., Awaitable[object]]] | None = None,
        rate: int = 256,
        retry_time: float = 600.0,
        backlog: int = DEFAULT_BACKLOG,
        inherited: Sequence[PassedSocket | socket.socket] = (),
    ) -> None:
        if rate < 1:
            raise ValueError(f"'rate' must be at least 1 (got {rate})")
        self._source = config
        self._config = InetdConfig() if not isinstance(config, InetdConfig) else config
        self._context = Context(
            handlers=dict(handlers or {}),
            default_rate=rate,
            retry_time=retry_time,
            backlog=backlog,
            inherited=[
                item if isinstance(item, PassedSocket) else PassedSocket(item, "")
                for item in inherited
            ],
        )
        self._services: dict[tuple[object, ...], Service] = {}
        self._failed: dict[tuple[object, ...], ServiceStatus] = {}
        self._retired: set[Service] = set()
        self._lock = asyncio.Lock()
        self._retry: asyncio.TimerHandle | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._started = False

    # -- public API -------------------------------------------------------------

    @property
    def config(self) -> InetdConfig:
        """The configuration in force."""
        return self._config

    @property
    def services(self) -> tuple[ServiceStatus, ...]:
        """Every configured service, in file order, with where it listens."""
        statuses = []
        for entry in self._config.entries:
            running = self._services.get(entry.key)
            if running is not None:
                statuses.append(ServiceStatus(running.entry, running.endpoints))
            else:
                failed = self._failed.get(entry.key)
                error = failed.error if failed else "not started"
                statuses.append(ServiceStatus(entry, (), error))
        return tuple(statuses)

    @property
    def unused_sockets(self) -> tuple[PassedSocket, ...]:
        """Sockets passed in ``inherited`` that no service took (yet)."""
        return tuple(self._context.inherited)

    def endpoints(self, service: str | None = None) -> tuple[str, ...]:
        """Where the services (or those whose service field is ``service``) listen."""
        return tuple(
            endpoint
            for status in self.services
            if service is None or status.entry.service == service
            for endpoint in status.endpoints
        )

    async def start(self) -> None:
        """Read the configuration (if a path was given) and start every service.

        Raises:
            ConfigError: The file cannot be read. Problems inside it are logged,
                their lines skipped.
        """
        if self._started:
            return
        self._started = True
        self._context.broadcasts = _broadcasts()
        self._context.spawner = concurrent.futures.ThreadPoolExecutor(
            max_workers=_SPAWNERS, thread_name_prefix="aiosock-inetd-spawn"
        )
        async with self._lock:
            await self._apply(self._load(self._source))

    async def reload(
        self, config: InetdConfig | str | os.PathLike[str] | None = None
    ) -> InetdConfig:
        """Apply a new configuration, or read the file again; return what applies.

        Unchanged services keep their sockets; established connections and running
        children are never touched. When the file cannot be read, the error is
        logged and the configuration in force stays.
        """
        async with self._lock:
            if config is not None:
                self._source = config
            try:
                new = self._load(self._source)
            except Exception as exc:
                logger.error("reload failed, configuration unchanged: %s", exc)
                return self._config
            await self._apply(new)
            return new

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop listening; cancel in-process handlers after ``grace`` seconds.

        Children already started keep running (as with openbsd-inetd).
        """
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
            self._retry_task = None
        services = [*self._services.values(), *self._retired]
        self._services.clear()
        self._retired.clear()
        for service in services:
            service.close()
        await asyncio.gather(*(s.aclose(grace) for s in services))
        close_all(self._context.inherited)
        self._context.inherited.clear()
        if self._context.spawner is not None:
            self._context.spawner.shutdown(wait=False)
            self._context.spawner = None
        self._closed.set()

    async def serve_forever(self) -> None:
        """Wait until :meth:`aclose`; closes the inetd if this task is cancelled."""
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self.aclose())
            raise

    async def __aenter__(self) -> Inetd:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- applying a configuration ----------------------------------------------

    def _load(self, source: ConfigSource | None) -> InetdConfig:
        if isinstance(source, InetdConfig):
            config = source
        elif source is None:
            config = parse_inetd_conf(
                DEFAULT_CONFIG, filename="<default>", lookup=netdb_lookup
            )
        else:
            config = load_inetd_conf(source)
        for problem in config.problems:
            logger.warning("%s (line skipped)", problem)
        return config

    async def _apply(self, config: InetdConfig) -> None:
        self._config = config
        wanted = {entry.key: entry for entry in config.entries}
        before = len(self._services)
        for key in [k for k in self._failed if k not in wanted]:
            del self._failed[key]
        for key, service in list(self._services.items()):
            if key not in wanted:
                self._retire(service)
                del self._services[key]
        if len(self._services) < before:
            await self._closed_everywhere()
        for entry in config.entries:
            running = self._services.get(entry.key)
            if running is None:
                await self._start(entry)
            elif running.entry != entry:
                self._update(running, entry)
            else:
                running.entry = entry  # the same line, maybe moved
        self._protect()
        self._schedule_retry()

    async def _closed_everywhere(self) -> None:
        """Wait until the sockets of removed services are closed in every process.

        A removed service starting a program closes its sockets once the start
        is done, and a program being started (by any service) holds a copy of
        every descriptor until it execs: wait for those starts, so that a line
        on the same port can bind it again.
        """
        # Close, then wait for the starts in flight at that moment: a start that
        # begins later forks without the closed sockets. A removed service that
        # is itself starting a program closes only once that start is done, and
        # starts of other services may fork meanwhile: a second round waits
        # for those (found by the SIGHUP storm: 'cannot listen: Address already
        # in use' when the port came back).
        while True:
            self._retired = {service for service in self._retired if service.busy}
            for service in self._retired:
                service.close_sockets()
            still_open = any(service.spawning for service in self._retired)
            services = (*self._services.values(), *self._retired)
            starting = {f for service in services for f in service.spawning}
            if starting:
                await asyncio.wait(starting)
            if not still_open:
                return

    def _retire(self, service: Service) -> None:
        service.close()
        logger.info("stopped listening for %s", service.entry.name)
        if service.busy:
            self._retired.add(service)
        for task in list(service.tasks):
            task.add_done_callback(functools.partial(self._forget, service))

    def _forget(self, service: Service, _task: object = None) -> None:
        if not service.tasks and not service.children:
            self._retired.discard(service)

    def _update(self, service: Service, entry: ServiceEntry) -> None:
        try:
            service.update(entry)
        except LookupError as exc:
            logger.error("%s: change not applied: %s", entry.name, exc)
            return
        logger.info("changed %s: now %s", entry.name, service.describe())

    async def _start(self, entry: ServiceEntry) -> None:
        try:
            service = Service(entry, self._context)
            await service.start()
        except (OSError, AddressError, LookupError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            if isinstance(exc, OSError) and exc.strerror and exc.filename is None:
                reason = str(exc.strerror)
            what = "cannot start" if isinstance(exc, LookupError) else "cannot listen"
            logger.error("%s: %s: %s", entry.name, what, reason)
            self._failed[entry.key] = ServiceStatus(entry, (), reason)
            return
        self._failed.pop(entry.key, None)
        self._services[entry.key] = service
        for bound in service.bound:
            passed = ", passed in LISTEN_FDS" if bound.adopted else ""
            logger.info(
                "listening on %s for %s (%s%s)",
                bound.endpoint,
                entry.name,
                service.describe(),
                passed,
            )

    def _protect(self) -> None:
        ports: set[int] = set()
        for service in self._services.values():
            if service.entry.is_internal and service.entry.transport == "udp":
                ports.update(port_of(bound.endpoint) for bound in service.bound)
        self._context.protected_ports.clear()
        self._context.protected_ports.update(ports)

    def _schedule_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._failed:
            loop = asyncio.get_running_loop()
            self._retry = loop.call_later(self._context.retry_time, self._retry_failed)

    def _retry_failed(self) -> None:
        self._retry = None

        async def retry() -> None:
            async with self._lock:
                for status in list(self._failed.values()):
                    if status.entry.key not in self._services:
                        await self._start(status.entry)
                self._protect()
                self._schedule_retry()

        self._retry_task = asyncio.get_running_loop().create_task(retry())
