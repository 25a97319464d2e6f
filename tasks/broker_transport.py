"""Kombu's Redis transport, with one Redis client per channel for the commands it sends.

Kombu builds a new redis-py client object for every command it sends outside its blocking read:
every published task and every acknowledgement. The client shares the channel's connection pool,
so nothing is gained by a new one, but building it copies redis-py's table of response callbacks,
a share of every worker's CPU worth saving (docs/BENCHMARKS.md).
A redis-py client is safe to share between threads, and it holds no connection of its own (each
command takes one from the pool), so one per channel and pool does the same work.
"""

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    """A Redis channel that reuses its client for non-blocking commands."""

    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the blocking-read client, made once per channel by kombu itself
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._shared_client
        if client is None or client.connection_pool is not pool:  # kombu replaces the pool after a connection error
            client = self._shared_client = super()._create_client()
        return client


class Transport(redis.Transport):
    """The Redis transport with :class:`Channel`; selected by ``broker_transport`` in celeryconfig."""

    Channel = Channel
