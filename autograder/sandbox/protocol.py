"""Reading the runner's result stream: untrusted bytes in, plain numeric arrays out.

Framing (what ``runner.ResultStream.send`` writes, one record per event)::

    record = MAGIC (4 bytes) | json_len (uint32 LE) | npz_len (uint64 LE) | json | npz

Two layers, each with one job:

- ``iter_records`` checks every record's bytes *before* it allocates anything for them:
  a budget of bytes (``Budget``) bounds what all records of a run may cost together, the
  ``.npz`` must be exactly what ``np.savez`` writes (stored, never compressed; local and
  central headers agreeing on names, sizes and CRC; one ``r<i>.npy``/``a<i>.npy`` member
  each), and each member's ``.npy`` header must declare a numeric dtype and a shape whose
  ``prod(shape) * itemsize`` is exactly the bytes that follow and fits the budget. Only
  then is the array copied out. Nothing is ever inflated or unpickled.
- ``read_stream`` checks the order: exactly one ``load``, then one ``call`` per call id in
  the order asked (a prefix when the run died or was stopped), then ``done`` and nothing
  after it. A record out of place, or bytes the runner never writes, is *tampering*; a
  stream that merely stops inside a record (the run was killed while writing) or that
  asks for more than the budget (a huge honest result) is not.

Peak memory while reading one run is about the raw stream plus the budget: arrays are
copied out of ``memoryview`` slices of the raw bytes, which the caller then drops.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.lib import format as npy_format

MAGIC = b"AGR1"
HEADER = struct.Struct("<IQ")
# The runner's metadata is small (an error message, five warnings, a load report of a few
# hundred bytes per notebook cell); parsed JSON may take up to ~30x its size as Python
# objects, so every record's JSON is charged META_WEIGHT times its length to the budget.
MAX_JSON_BYTES = 256 * 1024
META_WEIGHT = 32
RECORD_OVERHEAD = 1024  # charged per record and per array: bounds their count, not just bytes
MAX_MEMBERS = 40
MEMBER_NAME = re.compile(r"^[ra]\d{1,2}\.npy$")
NUMERIC_KINDS = "biuf"
MAX_NDIM = 32
NPY_HEADER_MAX = 10_000  # numpy's own limit for a header it will parse

LOCAL = struct.Struct("<4sHHHHHIIIHH")  # signature .. extra length: 30 bytes
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
END = struct.Struct("<4sHHHHIIH")  # 22 bytes, no comment
LOCAL_SIG, CENTRAL_SIG, END_SIG = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
ZIP64_EXTRA = 0x0001
FORBIDDEN_FLAGS = 0x0001 | 0x0008 | 0x0040  # encrypted, sizes in a trailing descriptor, strong encryption


class StreamError(ValueError):
    """The stream holds bytes the kit's runner never writes: forged or corrupted."""


class StreamCut(StreamError):
    """The stream ends inside a record: the run died, or was stopped, while writing."""


class OverBudget(StreamError):
    """The records ask for more memory than the grader gives one submission."""


@dataclass
class Record:
    meta: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", ""))


class Budget:
    """Bytes the grader may still spend on one submission's results; ``take`` before allocating."""

    def __init__(self, total: int):
        self.total = total
        self.left = total

    def take(self, amount: int) -> None:
        if amount > self.left:
            raise OverBudget(f"the results need more than the {self.total // (1024 * 1024)} MiB "
                             "the grader accepts from one submission")
        self.left -= amount

    @property
    def spent(self) -> int:
        return self.total - self.left


@dataclass
class Stream:
    """One run's results as the grader accepts them.

    calls:    call id -> record, the honest prefix of the ids asked, in order.
    finished: the ``done`` record arrived, in its place.
    problem:  why the stream stopped early, in the kit's words (None: it did not).
    tampered: the problem is a protocol violation, not a run that died or sent too much.
    over_budget: the problem is that the results need more memory than the budget.
    """

    load: Record | None = None
    calls: dict[str, Record] = field(default_factory=dict)
    finished: bool = False
    problem: str | None = None
    tampered: bool = False
    over_budget: bool = False
    spent: int = 0


def read_stream(data: bytes, call_ids: Sequence[str], *, budget: Budget | int) -> Stream:
    """The records of ``data`` that follow the protocol for a run asked ``call_ids``."""
    budget = budget if isinstance(budget, Budget) else Budget(budget)
    stream = Stream()
    records = iter_records(data, budget)
    try:
        for index, (record, end) in enumerate(records):
            wrong = _out_of_place(record, index, call_ids)
            if wrong:
                stream.problem, stream.tampered = wrong, True
                break
            if record.kind == "load":
                stream.load = record
            elif record.kind == "call":
                stream.calls[call_ids[index - 1]] = record
            else:
                stream.finished = True
                if end != len(data):
                    stream.problem, stream.tampered = "data after the end of the results", True
                break
    except StreamCut:
        stream.problem = "the results stop in the middle of a record (the run was stopped while writing)"
    except OverBudget as exc:
        stream.problem, stream.over_budget = str(exc), True
    except StreamError as exc:
        stream.problem, stream.tampered = str(exc), True
    finally:
        records.close()
    stream.spent = budget.spent
    return stream


def _out_of_place(record: Record, index: int, call_ids: Sequence[str]) -> str | None:
    """Why ``record`` cannot be the ``index``-th of the stream (None: it belongs there)."""
    kind = record.meta.get("kind")
    wanted = "load" if index == 0 else ("call" if index <= len(call_ids) else "done")
    if kind not in ("load", "call", "done"):
        return "a record of a kind the runner never sends"
    if index == 0 and kind != "load":
        return "the first record is not the load report"
    if kind != wanted:
        return {"load": "a second load record",
                "done": "the end record before every call's result",
                "call": "more call records than calls asked"}[kind]
    if kind != "call" and record.arrays:
        return f"arrays attached to the {kind} record"
    if kind == "call" and record.meta.get("id") != call_ids[index - 1]:
        return "a call record that is not the next call asked (repeated, unknown or out of order)"
    return None


def parse_records(data: bytes, *, max_array_bytes: int) -> tuple[list[Record], str | None]:
    """Every well-formed record of ``data``, in any order; (records, the first problem or None)."""
    records: list[Record] = []
    try:
        for record, _ in iter_records(data, Budget(max_array_bytes)):
            records.append(record)
    except StreamError as exc:
        return records, f"result record {len(records) + 1}: {exc}"
    return records, None


def iter_records(data: bytes, budget: Budget) -> Iterator[tuple[Record, int]]:
    """Yields (record, offset just past it); raises ``StreamError`` at the first bad record."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        record, pos = _read_record(view, pos, budget)
        yield record, pos


def _read_record(view: memoryview, pos: int, budget: Budget) -> tuple[Record, int]:
    start = pos + len(MAGIC) + HEADER.size
    if start > len(view):
        if MAGIC.startswith(bytes(view[pos : pos + len(MAGIC)])):
            raise StreamCut("truncated header")
        raise StreamError("a record does not start with the protocol's marker")
    if bytes(view[pos : pos + len(MAGIC)]) != MAGIC:
        raise StreamError("a record does not start with the protocol's marker")
    json_len, npz_len = HEADER.unpack_from(view, pos + len(MAGIC))
    if json_len > MAX_JSON_BYTES:
        raise StreamError(f"record metadata larger than {MAX_JSON_BYTES // 1024} KiB")
    budget.take(RECORD_OVERHEAD + META_WEIGHT * json_len)
    if npz_len > budget.left:
        budget.take(npz_len)  # raises: honest arrays this large would not fit either
    end = start + json_len + npz_len
    if end > len(view):
        raise StreamCut("truncated record")
    try:
        meta = json.loads(bytes(view[start : start + json_len]))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StreamError("record metadata is not JSON") from None
    if not isinstance(meta, dict):
        raise StreamError("record metadata is not a JSON object")
    arrays = read_npz(view[start + json_len : end], budget) if npz_len else {}
    return Record(meta=meta, arrays=arrays), end


def read_npz(view: memoryview, budget: Budget) -> dict[str, np.ndarray]:
    """The arrays of a stored (uncompressed) ``.npz`` as ``np.savez`` writes it, each checked
    against its headers and the budget before it is copied."""
    pos = 0
    arrays: dict[str, np.ndarray] = {}
    members: list[tuple[str, int, int, int]] = []  # name, local header offset, size, crc
    while bytes(view[pos : pos + 4]) == LOCAL_SIG:
        if len(members) == MAX_MEMBERS:
            raise StreamError(f"more than {MAX_MEMBERS} arrays in one record")
        name, size, crc, data_at = _local_member(view, pos)
        if name[:-4] in arrays:
            raise StreamError("an array name repeated in one record")
        data = view[data_at : data_at + size]
        if zlib.crc32(data) != crc:
            raise StreamError("an array's checksum does not match its bytes")
        arrays[name[:-4]] = _read_npy(data, budget)
        members.append((name, pos, size, crc))
        pos = data_at + size
    if not members:
        raise StreamError("arrays that are not an uncompressed .npz")
    _check_directory(view, pos, members)
    return arrays


def _local_member(view: memoryview, pos: int) -> tuple[str, int, int, int]:
    """(name, size, crc, offset of the data) of the local file header at ``pos``."""
    if pos + LOCAL.size > len(view):
        raise StreamError("a truncated .npz member header")
    _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = LOCAL.unpack_from(view, pos)
    if method != 0:
        raise StreamError("a compressed .npz member (the runner stores arrays uncompressed)")
    if flags & FORBIDDEN_FLAGS:
        raise StreamError("an .npz member with encryption or a trailing size descriptor")
    name_at = pos + LOCAL.size
    data_at = name_at + name_len + extra_len
    if data_at > len(view):
        raise StreamError("a truncated .npz member header")
    name = _member_name(view[name_at : name_at + name_len])
    csize, usize = _zip64_sizes(view[name_at + name_len : data_at], csize, usize)
    if csize != usize:
        raise StreamError("an .npz member whose stored and declared sizes disagree")
    if data_at + usize > len(view):
        raise StreamError("an .npz member that runs past its record")
    return name, usize, crc, data_at


def _member_name(raw: memoryview) -> str:
    try:
        name = bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        name = ""
    if not MEMBER_NAME.match(name):
        raise StreamError("an array with a name the runner never uses")
    return name


def _zip64_sizes(extra: memoryview, csize: int, usize: int) -> tuple[int, int]:
    """Sizes of 0xFFFFFFFF mean 'see the zip64 extra field' (np.savez forces zip64).

    Some Pythons' zipfile (3.11.2's, Debian 12's) also write the real sizes in the 32-bit
    fields; the extra's values must then agree with them, so a member never shows one size to
    one reader and another to the next."""
    values = _zip64_values(extra)
    sizes = []
    for size in (usize, csize):  # the zip64 extra holds the uncompressed size first
        if size == 0xFFFFFFFF:
            if not values:
                raise StreamError("an .npz member without its zip64 sizes")
            size = values.pop(0)
        elif values and values.pop(0) != size:
            raise StreamError("an .npz member whose zip64 and 32-bit sizes disagree")
        sizes.append(size)
    usize, csize = sizes
    return csize, usize


def _zip64_values(extra: memoryview) -> list[int]:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4 : at + 4 + length]
        if tag == ZIP64_EXTRA:
            return list(struct.unpack_from(f"<{len(body) // 8}Q", body)) if len(body) >= 8 else []
        at += 4 + length
    return []


def _check_directory(view: memoryview, pos: int, members: list[tuple[str, int, int, int]]) -> None:
    """The central directory lists exactly the members read, and the end record closes the blob."""
    end_at = len(view) - END.size
    if end_at < pos or bytes(view[end_at : end_at + 4]) != END_SIG:
        raise StreamError("an .npz whose end record is missing or not at its end")
    _, disk, cd_disk, here, total, cd_size, cd_offset, _ = END.unpack_from(view, end_at)
    if (disk, cd_disk) != (0, 0) or here != total or total != len(members):
        raise StreamError("an .npz whose directory does not count its members")
    if cd_offset != pos or cd_offset + cd_size != end_at:
        raise StreamError("an .npz whose directory is not where its end record says")
    at = pos
    for name, offset, size, crc in members:
        if at + CENTRAL.size > end_at or bytes(view[at : at + 4]) != CENTRAL_SIG:
            raise StreamError("an .npz directory entry is missing")
        fields = CENTRAL.unpack_from(view, at)
        method, c_crc, csize, usize, name_len, extra_len, comment_len = (
            fields[4], fields[7], fields[8], fields[9], fields[10], fields[11], fields[12])
        c_offset = fields[16]
        name_at = at + CENTRAL.size
        after = name_at + name_len + extra_len + comment_len
        if after > end_at:
            raise StreamError("an .npz directory entry runs past the directory")
        extra = view[name_at + name_len : name_at + name_len + extra_len]
        csize, usize = _zip64_sizes(extra, csize, usize)
        if c_offset == 0xFFFFFFFF:
            c_offset = offset  # only a > 4 GiB archive needs it, which the budget excludes
        if (bytes(view[name_at : name_at + name_len]) != name.encode() or method != 0
                or (c_crc, csize, usize, c_offset) != (crc, size, size, offset)):
            raise StreamError("an .npz directory entry disagrees with its member")
        at = after
    if at != end_at:
        raise StreamError("an .npz directory with entries beyond its members")


def _read_npy(data: memoryview, budget: Budget) -> np.ndarray:
    """One ``.npy`` member: header checked (numeric dtype, shape matching the bytes, within the
    budget) before the array is copied out of ``data``."""
    head = io.BytesIO(bytes(data[: NPY_HEADER_MAX + 16]))
    try:
        version = npy_format.read_magic(head)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(head, max_header_size=NPY_HEADER_MAX)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(head, max_header_size=NPY_HEADER_MAX)
        else:
            raise ValueError(version)
    except Exception:  # noqa: BLE001 - numpy raises several kinds for a malformed header
        raise StreamError("an array whose .npy header cannot be read") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise StreamError("an array of a non-numeric dtype")
    if len(shape) > MAX_NDIM or not all(isinstance(d, int) and 0 <= d < 2**40 for d in shape):
        raise StreamError("an array with an impossible shape")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    offset = head.tell()
    if offset + nbytes != len(data):
        raise StreamError("an array whose .npy header disagrees with its size")
    budget.take(RECORD_OVERHEAD + nbytes)
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C").copy()
