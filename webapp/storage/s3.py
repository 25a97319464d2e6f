"""The S3 backend: a file as one object in ``UPLOAD_S3_BUCKET`` (AWS or any S3-compatible store).

boto3's transfer manager streams the upload as a multipart upload of 8 MiB parts (S3's parts
must be at least 5 MiB) with a few in memory at a time, and the download straight into a file.
Credentials come from boto3's usual sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION, an instance role...).
"""

import functools
import uuid
from typing import Any, BinaryIO

from flask import current_app

from webapp.storage.streams import read_full

PART_BYTES = 8 << 20


class CountingReader:
    """A read-only view of a stream that counts the bytes read through it (the object's size).

    Each read returns all it was asked for unless the stream ended: boto3 takes a short read of a
    stream it cannot seek for its end, and would store a truncated object.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Read ``size`` bytes (all if -1) from the stream, counting."""
        data = self.stream.read() if size < 0 else read_full(self.stream, size)
        self.size += len(data)
        return data


@functools.cache
def transfer_config() -> Any:
    """Multipart settings: 8 MiB parts, at most 4 in flight or in memory."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4)
    config.max_in_memory_upload_chunks = 4  # s3transfer's setting (default 10); boto3's constructor does not take it
    return config


@functools.cache
def cached_client(endpoint_url: str | None) -> Any:
    """One boto3 client per process and endpoint (boto3 clients are thread-safe)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url)


def client() -> Any:
    """The S3 client for ``UPLOAD_S3_ENDPOINT_URL`` (unset: AWS)."""
    return cached_client(current_app.config.get("UPLOAD_S3_ENDPOINT_URL") or None)


def new_key(prefix: str) -> str:
    """A fresh object key under ``prefix``: unique across databases sharing one bucket."""
    return f"{prefix}{uuid.uuid4().hex}"


def put(stream: BinaryIO, bucket: str, key: str) -> int:
    """Upload ``stream`` to ``bucket/key`` in parts; return its size (a failed upload is aborted by boto3)."""
    reader = CountingReader(stream)
    client().upload_fileobj(reader, bucket, key, Config=transfer_config())
    return reader.size


def get(bucket: str, key: str, out: BinaryIO) -> None:
    """Download ``bucket/key`` into the open file ``out``; FileNotFoundError if there is no such object."""
    from botocore.exceptions import ClientError

    try:
        client().download_fileobj(bucket, key, out, Config=transfer_config())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise FileNotFoundError(f"s3://{bucket}/{key}") from None
        raise


def delete(bucket: str, key: str) -> None:
    """Delete ``bucket/key`` (deleting a missing key is not an error in S3)."""
    client().delete_object(Bucket=bucket, Key=key)
