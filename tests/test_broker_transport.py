"""The broker transport: kombu's Redis transport, reusing one client per channel."""

from flask import Flask

from tasks.broker_transport import Channel


def test_the_app_publishes_through_the_channel_that_reuses_its_client(app: Flask) -> None:
    celery = app.extensions["celery"]
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        channel._disconnect_pools()  # what kombu does after a connection error
        with channel.conn_or_acquire() as fresh:
            assert fresh is not first
            assert fresh.connection_pool is channel.pool
            assert fresh.ping()


def test_messages_go_through_and_come_back(app: Flask) -> None:
    celery = app.extensions["celery"]
    with celery.connection_for_write() as connection:
        queue = connection.SimpleQueue("celeriac-transport-test")
        try:
            for n in range(3):
                queue.put({"n": n})
            assert [queue.get(timeout=5).payload["n"] for _ in range(3)] == [0, 1, 2]
        finally:
            queue.clear()
            queue.close()
