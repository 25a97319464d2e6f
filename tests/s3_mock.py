"""An in-process S3 (moto) with an empty bucket, for the tests of the S3 upload store (a plugin of conftest)."""

from collections.abc import Iterator

import pytest
from flask import Flask

BUCKET = "celeriac-uploads"


@pytest.fixture
def s3_bucket(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A moto S3 with an empty bucket selected by UPLOAD_S3_BUCKET, inside an app context; yields the client."""
    from moto import mock_aws

    from webapp.storage import s3

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(app.config, "UPLOAD_S3_BUCKET", BUCKET)
    monkeypatch.setitem(app.config, "UPLOAD_S3_PREFIX", "reports/")
    s3.cached_client.cache_clear()
    with mock_aws(), app.app_context():
        client = s3.client()
        client.create_bucket(Bucket=BUCKET)
        yield client
    s3.cached_client.cache_clear()


def objects(client: object) -> list[str]:
    """Keys in the test bucket."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]  # type: ignore[attr-defined]
