"""Reading the runner's result stream: untrusted bytes in, plain numeric arrays out.

Every record is checked before use: framing and sizes, JSON that must be an object,
an ``.npz`` whose members must be named ``r<i>.npy`` / ``a<i>.npy``, loaded with
``allow_pickle=False`` (no object arrays, so nothing is ever unpickled), with bounded
uncompressed size and numeric dtypes only. The first bad record ends the stream:
what came before it is kept.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"AGR1"
HEADER = struct.Struct("<IQ")
MAX_JSON_BYTES = 1024 * 1024
MAX_MEMBERS = 40
MEMBER_NAME = re.compile(r"^[ra]\d{1,2}\.npy$")
NUMERIC_KINDS = "biuf"


class StreamError(ValueError):
    """The result stream broke the protocol."""


@dataclass
class Record:
    meta: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", ""))


def parse_records(data: bytes, *, max_array_bytes: int) -> tuple[list[Record], str | None]:
    """Split ``data`` into records; returns (valid records, description of the first problem)."""
    records: list[Record] = []
    pos = 0
    while pos < len(data):
        try:
            record, pos = _parse_one(data, pos, max_array_bytes)
        except StreamError as exc:
            return records, f"result record {len(records) + 1}: {exc}"
        records.append(record)
    return records, None


def _parse_one(data: bytes, pos: int, max_array_bytes: int) -> tuple[Record, int]:
    start = pos + len(MAGIC) + HEADER.size
    if data[pos : pos + len(MAGIC)] != MAGIC or start > len(data):
        raise StreamError("bad or truncated header")
    json_len, npz_len = HEADER.unpack_from(data, pos + len(MAGIC))
    if json_len > MAX_JSON_BYTES:
        raise StreamError(f"metadata of {json_len} bytes exceeds {MAX_JSON_BYTES}")
    end = start + json_len + npz_len
    if end > len(data):
        raise StreamError("truncated")
    try:
        meta = json.loads(data[start : start + json_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StreamError(f"metadata is not JSON ({type(exc).__name__})") from None
    if not isinstance(meta, dict):
        raise StreamError("metadata is not a JSON object")
    arrays = _load_npz(data[start + json_len : end], max_array_bytes) if npz_len else {}
    return Record(meta=meta, arrays=arrays), end


def _load_npz(blob: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise StreamError(f"{len(infos)} arrays in one record (limit {MAX_MEMBERS})")
            total = 0
            for info in infos:
                if not MEMBER_NAME.match(info.filename):
                    raise StreamError(f"unexpected array name {info.filename[:40]!r}")
                total += info.file_size
            if total > max_bytes:
                raise StreamError(f"arrays of {total} bytes exceed the limit of {max_bytes}")
        arrays = {}
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            for key in npz.files:
                array = npz[key]
                if array.dtype.kind not in NUMERIC_KINDS:
                    raise StreamError(f"array {key} has non-numeric dtype {array.dtype}")
                arrays[key] = array
        return arrays
    except StreamError:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed archive is a protocol error
        raise StreamError(f"unreadable arrays ({type(exc).__name__})") from None
