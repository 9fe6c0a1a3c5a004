"""Where reports, Sales Navigator imports and backups live: one small interface, two backends.

A folder on this host by default (`LEAD_SPRINT_STORAGE_URL` unset or a path), or an object
store (`s3://bucket/prefix`, through boto3, an optional dependency) when runs execute on other
nodes than the sensors that saw a file: every node then reads and writes the same place.
A multi-sprint deployment (LEAD_SPRINT_ID set) gets its own folder, `<root>/<sprint id>/`.
Names are relative, '/'-separated (`reports/final-report.html`). Nothing here imports Dagster.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lead_assets.config.settings import STATE_DIR, explicit_sprint_id

STORAGE_URL_ENV = "LEAD_SPRINT_STORAGE_URL"


@dataclass(frozen=True)
class StoredFile:
    """One stored file: its name under the storage, its size, and a signature that changes with it."""

    name: str
    size: int
    signature: str  # size and modification time (local) or ETag (object store)


class FileStorage(ABC):
    """put/get/list/exists/delete on relative names, plus a local staging folder for tools that write files."""

    @abstractmethod
    def put(self, name: str, data: bytes) -> str:
        """Store `data` under `name` (replacing it); returns where it is (a path or an s3:// URL)."""

    @abstractmethod
    def get(self, name: str) -> bytes:
        """The bytes stored under `name` (FileNotFoundError when there are none)."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[StoredFile]:
        """Every file whose name starts with `prefix`, sorted by name."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove `name`; nothing happens when it is not there."""

    @abstractmethod
    def location(self, name: str = "") -> str:
        """Where `name` is, for people: a path or an s3:// URL."""

    @abstractmethod
    def child(self, prefix: str) -> FileStorage:
        """The same backend, rooted at `prefix` under this one."""

    @property
    def local_root(self) -> Path | None:
        """The folder on this host that holds the files, or None for an object store."""
        return None

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A local folder to write into (pg_dump, the report renderer); stored when the block succeeds.

        Local storage writes in place; an object store gets every file written in the block.
        """
        if self.local_root is not None:
            self.local_root.mkdir(parents=True, exist_ok=True)
            yield self.local_root
            return
        folder = Path(tempfile.mkdtemp(prefix="lead-sprint-staging-"))
        try:
            yield folder
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                self.put(path.relative_to(folder).as_posix(), path.read_bytes())
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class LocalStorage(FileStorage):
    """A folder on this host (or a shared mount)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"file name {name!r} leaves the storage folder {self.root}")
        return path

    def put(self, name: str, data: bytes) -> str:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file
        return str(path)

    def get(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def list(self, prefix: str = "") -> list[StoredFile]:
        if not self.root.is_dir():
            return []
        out = []
        for path in self.root.rglob("*"):
            name = path.relative_to(self.root).as_posix()
            if path.is_file() and name.startswith(prefix) and not name.endswith(".partial"):
                stat = path.stat()
                out.append(StoredFile(name, stat.st_size, f"{stat.st_size}-{int(stat.st_mtime)}"))
        return sorted(out, key=lambda f: f.name)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def location(self, name: str = "") -> str:
        return str(self.root / name) if name else str(self.root)

    def child(self, prefix: str) -> LocalStorage:
        return LocalStorage(self.root / prefix) if prefix else self

    @property
    def local_root(self) -> Path:
        return self.root


class S3Storage(FileStorage):
    """An S3 (or S3-compatible) bucket under a key prefix. `client` is a boto3 S3 client."""

    def __init__(self, bucket: str, prefix: str = "", client=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    @property
    def client(self):
        if self._client is None:
            try:
                import boto3
            except ImportError as exc:
                raise RuntimeError(
                    f"{STORAGE_URL_ENV}=s3://{self.bucket}/{self.prefix} needs boto3: "
                    "pip install 'lead-sprint[s3]' (or boto3), or set a folder path instead"
                ) from exc
            # Credentials and endpoint come from boto3's own chain (AWS_* variables, a role, a profile).
            self._client = boto3.client("s3")
        return self._client

    def _key(self, name: str) -> str:
        if ".." in name.split("/"):
            raise ValueError(f"file name {name!r} leaves the storage prefix")
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)
        return self.location(name)

    def get(self, name: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(self.location(name)) from exc
            raise

    def list(self, prefix: str = "") -> list[StoredFile]:
        root = f"{self.prefix}/" if self.prefix else ""
        kwargs = {"Bucket": self.bucket, "Prefix": root + prefix}
        out = []
        while True:
            page = self.client.list_objects_v2(**kwargs)
            for obj in page.get("Contents", []):
                out.append(StoredFile(obj["Key"][len(root):], int(obj["Size"]), obj["ETag"].strip('"')))
            if not page.get("IsTruncated"):
                return sorted(out, key=lambda f: f.name)
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(name))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def location(self, name: str = "") -> str:
        key = self._key(name) if name else self.prefix
        return f"s3://{self.bucket}/{key}"

    def child(self, prefix: str) -> S3Storage:
        return S3Storage(self.bucket, self._key(prefix.strip("/")), client=self._client) if prefix else self


def storage_from_url(url: str | os.PathLike | None, *, client=None) -> FileStorage:
    """`s3://bucket/prefix` -> S3Storage; a path (or None: `.lead_sprint/`) -> LocalStorage."""
    text = str(url) if url else ""
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"{STORAGE_URL_ENV}={text!r} names no bucket: use s3://bucket/prefix")
        return S3Storage(bucket, prefix, client=client)
    if "://" in text:
        raise ValueError(f"{STORAGE_URL_ENV}={text!r}: only a folder path or s3://bucket/prefix is supported")
    return LocalStorage(Path(text) if text else STATE_DIR)


def sprint_storage(*, client=None) -> FileStorage:
    """This sprint's storage: `LEAD_SPRINT_STORAGE_URL` (default `.lead_sprint/`), under the sprint id when set."""
    root = storage_from_url(os.environ.get(STORAGE_URL_ENV), client=client)
    sprint = explicit_sprint_id()
    return root.child(sprint) if sprint else root
