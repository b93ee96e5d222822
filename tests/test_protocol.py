"""The result stream is untrusted: every malformed record is refused, never unpickled."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import numpy as np
import pytest

from autograder.sandbox.protocol import MAGIC, parse_records

LIMIT = 1 << 20


def record(meta, npz: bytes = b"") -> bytes:
    head = json.dumps(meta).encode()
    return MAGIC + struct.pack("<IQ", len(head), len(npz)) + head + npz


def npz_of(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_valid_records_round_trip():
    data = record({"kind": "load"}) + record({"kind": "call", "id": "c0"}, npz_of(r0=np.arange(3.0)))
    records, problem = parse_records(data, max_array_bytes=LIMIT)
    assert problem is None
    assert [r.kind for r in records] == ["load", "call"]
    assert np.array_equal(records[1].arrays["r0"], [0.0, 1.0, 2.0])


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"

    class Bomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buf = io.BytesIO()
    np.save(buf, np.array([Bomb()], dtype=object), allow_pickle=True)
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as zf:
        zf.writestr("r0.npy", buf.getvalue())
    records, problem = parse_records(record({"kind": "call"}, blob.getvalue()), max_array_bytes=LIMIT)
    assert records == [] and "unreadable arrays" in problem
    assert not marker.exists()


@pytest.mark.parametrize("data, expected", [
    (b"XXXX" + b"\0" * 12, "bad or truncated header"),
    (MAGIC + struct.pack("<IQ", 10, 0) + b"{}", "truncated"),
    (MAGIC + struct.pack("<IQ", 50_000_000, 0), "exceeds"),
    (record([1, 2, 3]), "not a JSON object"),
    (MAGIC + struct.pack("<IQ", 3, 0) + b"\xff\xfe{", "not JSON"),
    (record({"kind": "call"}, b"not a zip"), "unreadable arrays"),
    (record({"kind": "call"}, npz_of(evil=np.zeros(2))), "unexpected array name"),
    (record({"kind": "call"}, npz_of(r0=np.array(["text"]))), "non-numeric dtype"),
    (record({"kind": "call"}, npz_of(r0=np.zeros(LIMIT))), "exceed the limit"),
])
def test_malformed_records_are_refused(data, expected):
    records, problem = parse_records(data, max_array_bytes=LIMIT)
    assert records == []
    assert expected in problem


def test_records_before_a_bad_one_are_kept():
    data = record({"kind": "load"}) + b"garbage"
    records, problem = parse_records(data, max_array_bytes=LIMIT)
    assert [r.kind for r in records] == ["load"]
    assert problem.startswith("result record 2")


def test_pickle_bytes_are_never_interpreted():
    records, problem = parse_records(pickle.dumps({"score": 48}), max_array_bytes=LIMIT)
    assert records == [] and problem
