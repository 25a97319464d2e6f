"""The broker is a choice: BROKER_URL, CELERY_BROKER_URL or CLOUDAMQP_URL, else REDIS_URL."""

from webapp.broker import broker_kind, broker_url_from_env, broker_vhost, configured_broker_url, describe_broker, transport_settings


def test_unset_broker_falls_back_to_redis_url():
    assert configured_broker_url({"REDIS_URL": "redis://r:6379/3"}) == ""
    assert broker_url_from_env({"REDIS_URL": "redis://r:6379/3"}) == "redis://r:6379/3"


def test_broker_variables_are_read_in_order():
    env = {"REDIS_URL": "redis://r/0", "CLOUDAMQP_URL": "amqps://c/v", "CELERY_BROKER_URL": "amqp://b/v"}
    assert broker_url_from_env(env) == "amqp://b/v"
    assert broker_url_from_env({**env, "BROKER_URL": "amqp://a/v"}) == "amqp://a/v"
    assert broker_url_from_env({"REDIS_URL": "redis://r/0", "CLOUDAMQP_URL": "amqps://c/v"}) == "amqps://c/v"


def test_amqp_gets_publisher_confirms_and_redis_its_visibility_timeout():
    amqp = transport_settings("amqp://guest:guest@127.0.0.1:5672/v", 600)
    assert amqp["broker_transport"] == "amqp" and amqp["broker_transport_options"]["confirm_publish"] is True
    assert broker_kind("amqps://host/v") == "rabbitmq"
    redis = transport_settings("redis://127.0.0.1:6379/0", 600)
    assert redis["broker_transport_options"]["visibility_timeout"] == 600
    assert broker_kind("redis://127.0.0.1:6379/0") == "redis"


def test_an_amqps_url_connects_over_tls():
    """CloudAMQP's amqps:// URLs: TLS on port 5671, not the URL sent in clear text to 5672."""
    from celery import Celery

    app = Celery()
    app.conf.update(transport_settings("amqps://user:secret@broker.example.com/vhost", 600))
    connection = app.connection_for_write()
    port = connection.info()["port"]  # the transport, made here, turns TLS on
    assert (connection.transport_cls, connection.ssl, port) == ("amqps", True, 5671)
    assert transport_settings("amqp://guest:guest@127.0.0.1:5672/v", 600)["broker_transport"] == "amqp"


def test_the_broker_is_named_without_its_password():
    assert describe_broker("amqps://user:s3cret@mq.example.com:5671/prod%2Fa") == "RabbitMQ at mq.example.com:5671, vhost prod/a"
    assert describe_broker("redis://:s3cret@cache:6380/2") == "Redis at cache:6380/2"
    assert (broker_vhost("amqp://guest@localhost//"), broker_vhost("amqp://guest@localhost")) == ("/", "/")
