"""The result stream is untrusted: its order is checked, every malformed record is refused, and
nothing is inflated, unpickled or allocated beyond the budget before its headers are checked."""

from __future__ import annotations

import io
import json
import pickle
import struct
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest

from autograder.sandbox.protocol import MAGIC, Budget, parse_records, read_npz, read_stream

LIMIT = 1 << 20
IDS = ("c0000", "c0001", "c0002")


def record(meta, npz: bytes = b"") -> bytes:
    head = json.dumps(meta).encode()
    return MAGIC + struct.pack("<IQ", len(head), len(npz)) + head + npz


def npz_of(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


LOAD = record({"kind": "load", "cells": []})
DONE = record({"kind": "done"})


def call(call_id: str, value: float = 1.0) -> bytes:
    return record({"kind": "call", "id": call_id, "n_results": 1, "tuple": False},
                  npz_of(r0=np.array([value])))


def honest(n: int = len(IDS)) -> bytes:
    return LOAD + b"".join(call(i) for i in IDS[:n])


# The order --------------------------------------------------------------------------------

def test_an_honest_stream_is_accepted_in_full():
    stream = read_stream(honest() + DONE, IDS, budget=LIMIT)
    assert stream.finished and not stream.tampered and stream.problem is None
    assert list(stream.calls) == list(IDS)
    assert stream.calls["c0001"].arrays["r0"].tolist() == [1.0]


def test_an_honest_prefix_is_kept_and_is_not_tampering():
    cut = honest(2) + call("c0002")[:-7]  # the run was killed while writing its third record
    stream = read_stream(cut, IDS, budget=LIMIT)
    assert list(stream.calls) == ["c0000", "c0001"]
    assert not stream.finished and not stream.tampered and "middle of a record" in stream.problem


@pytest.mark.parametrize("data, kept, words", [
    (honest(2) + call("c0001") + call("c0002") + DONE, 2, "repeated, unknown or out of order"),
    (honest(1) + call("c9999") + call("c0001") + DONE, 1, "repeated, unknown or out of order"),
    (LOAD + call("c0001") + call("c0000") + call("c0002") + DONE, 0, "out of order"),
    (honest() + DONE + call("c0000"), 3, "after the end"),
    (honest() + DONE + DONE, 3, "after the end"),
    (LOAD + LOAD + call("c0000"), 0, "second load"),
    (honest(1) + LOAD + call("c0001"), 1, "second load"),
    (call("c0000") + LOAD, 0, "first record is not the load"),
    (honest(1) + DONE, 1, "end record before"),
    (honest() + call("c0000"), 3, "more call records"),
    (honest(1) + record({"kind": "score", "points": 48}), 1, "kind the runner never sends"),
    (record({"kind": "load"}, npz_of(r0=np.zeros(2))), 0, "arrays attached"),
])
def test_records_out_of_place_are_tampering_and_stop_the_stream(data, kept, words):
    stream = read_stream(data, IDS, budget=LIMIT)
    assert stream.tampered and words in stream.problem
    assert list(stream.calls) == list(IDS[:kept])


# Records the runner never writes ----------------------------------------------------------

def stored_zip(members, compression=zipfile.ZIP_STORED) -> bytes:
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w", compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name is what one test wants
        for name, data in members:
            zf.writestr(name, data)
    return blob.getvalue()


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"

    class Bomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buf = io.BytesIO()
    np.save(buf, np.array([Bomb()], dtype=object), allow_pickle=True)
    records, problem = parse_records(record({"kind": "call"}, stored_zip([("r0.npy", buf.getvalue())])),
                                     max_array_bytes=LIMIT)
    assert records == [] and "non-numeric dtype" in problem
    assert not marker.exists()


@pytest.mark.parametrize("data, expected", [
    (b"XXXX" + b"\0" * 12, "marker"),
    (MAGIC + struct.pack("<IQ", 10, 0) + b"{}", "truncated"),
    (MAGIC + struct.pack("<IQ", 50_000_000, 0), "larger than"),
    (record([1, 2, 3]), "not a JSON object"),
    (MAGIC + struct.pack("<IQ", 3, 0) + b"\xff\xfe{", "not JSON"),
    (record({"kind": "call"}, b"not a zip"), "not an uncompressed .npz"),
    (record({"kind": "call"}, npz_of(evil=np.zeros(2))), "name the runner never uses"),
    (record({"kind": "call"}, npz_of(r0=np.array(["text"]))), "non-numeric dtype"),
    (record({"kind": "call"}, npz_of(r0=np.array([1 + 2j]))), "non-numeric dtype"),
    (record({"kind": "call"}, npz_of(r0=np.zeros(LIMIT))), "more than"),
    (record({"kind": "call"}, stored_zip([("r0.npy", npy(np.zeros(3)))], zipfile.ZIP_DEFLATED)),
     "compressed"),
    (record({"kind": "call"}, stored_zip([("r0.npy", npy(np.zeros(3)))] * 2)), "repeated"),
])
def test_malformed_records_are_refused(data, expected):
    records, problem = parse_records(data, max_array_bytes=LIMIT)
    assert records == []
    assert expected in problem


def test_records_before_a_bad_one_are_kept():
    records, problem = parse_records(LOAD + b"garbage", max_array_bytes=LIMIT)
    assert [r.kind for r in records] == ["load"]
    assert problem.startswith("result record 2")


def test_pickle_bytes_are_never_interpreted():
    records, problem = parse_records(pickle.dumps({"score": 48}), max_array_bytes=LIMIT)
    assert records == [] and problem


def test_a_malformed_record_in_a_stream_is_tampering():
    forged = record({"kind": "call", "id": "c0001"},
                    stored_zip([("r0.npy", npy(np.zeros(3)))], zipfile.ZIP_DEFLATED))
    stream = read_stream(honest(1) + forged, IDS, budget=LIMIT)
    assert stream.tampered and "compressed" in stream.problem and list(stream.calls) == ["c0000"]


# Lying headers: the sizes that matter are checked before anything is allocated -------------

def lying_npy(shape, dtype="<f8", data=b"") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def patch_local_sizes(blob: bytes, csize: int, usize: int, *, wide: bool = True) -> bytes:
    """The first member's zip64 sizes in its local header (np.savez writes them there).

    wide: also set the 32-bit size fields to 0xFFFFFFFF ("see zip64"), as 3.11.7's zipfile
    writes them; 3.11.2's writes the real sizes there too, and then the extra must agree."""
    name_len, extra_len = struct.unpack_from("<HH", blob, 26)
    if wide:
        blob = blob[:18] + struct.pack("<II", 0xFFFFFFFF, 0xFFFFFFFF) + blob[26:]
    at = 30 + name_len + 4
    return blob[:at] + struct.pack("<QQ", usize, csize) + blob[at + 16 : 30 + name_len + extra_len] + \
        blob[30 + name_len + extra_len :]


def narrow_sizes(blob: bytes) -> bytes:
    """The first member's real sizes in its 32-bit fields, as Python 3.11.2's zipfile writes them."""
    name_len = struct.unpack_from("<H", blob, 26)[0]
    usize, csize = struct.unpack_from("<QQ", blob, 30 + name_len + 4)
    return blob[:18] + struct.pack("<II", csize, usize) + blob[26:]


@pytest.mark.parametrize("blob, words", [
    # a header declaring 8 TB over 16 bytes of data
    (stored_zip([("r0.npy", lying_npy((1 << 40,), data=b"\0" * 16))]), "impossible shape"),
    (stored_zip([("r0.npy", lying_npy((1 << 20, 1 << 19), data=b"\0" * 16))]), "disagrees with its size"),
    (stored_zip([("r0.npy", lying_npy((2,), data=b"\0" * 24))]), "disagrees with its size"),
    (stored_zip([("r0.npy", lying_npy((4,), dtype="|O", data=b"\0" * 32))]), "non-numeric"),
    (stored_zip([("r0.npy", b"\x93NUMPY\x09\x00" + b"\0" * 40)]), "cannot be read"),
    (patch_local_sizes(npz_of(r0=np.zeros(4)), 10**12, 10**12), "runs past its record"),
    (patch_local_sizes(npz_of(r0=np.zeros(4)), 100, 50), "disagree"),
    # real 32-bit sizes beside a zip64 extra that says otherwise
    (patch_local_sizes(narrow_sizes(npz_of(r0=np.zeros(4))), 10**6, 10**6, wide=False), "disagree"),
])
def test_lying_headers_are_refused(blob, words):
    records, problem = parse_records(record({"kind": "call"}, blob), max_array_bytes=LIMIT)
    assert records == [] and words in problem


def test_real_sizes_in_both_fields_are_read_as_3_11_2_writes_them():
    blob = narrow_sizes(npz_of(r0=np.arange(4.0)))
    records, problem = parse_records(record({"kind": "call"}, blob), max_array_bytes=LIMIT)
    assert problem is None and np.array_equal(records[0].arrays["r0"], np.arange(4.0))


def test_a_lying_central_directory_is_refused():
    blob = bytearray(npz_of(r0=np.zeros(4)))
    at = blob.rindex(b"PK\x01\x02")
    blob[at + 20 : at + 24] = struct.pack("<I", 7)  # its compressed size
    records, problem = parse_records(record({"kind": "call"}, bytes(blob)), max_array_bytes=LIMIT)
    assert records == [] and "directory entry disagrees" in problem


def test_a_wrong_checksum_is_refused():
    data = bytearray(npz_of(r0=np.zeros(4)))
    struct.pack_into("<I", data, 14, zlib.crc32(b"other"))
    records, problem = parse_records(record({"kind": "call"}, bytes(data)), max_array_bytes=LIMIT)
    assert records == [] and "checksum" in problem


def peak_while(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def deflate_bomb(inflated: int) -> bytes:
    """A deflated member that would inflate to ``inflated`` bytes of a valid .npy."""
    data = lying_npy((inflated // 8,)) + b"\0" * (inflated // 8 * 8)
    return stored_zip([("r0.npy", data)], zipfile.ZIP_DEFLATED)


def test_a_zip_bomb_is_refused_without_inflating():
    bomb = record({"kind": "call", "id": "c0000"}, deflate_bomb(256 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024
    data = LOAD + bomb
    peak = peak_while(lambda: read_stream(data, IDS, budget=64 << 20))
    stream = read_stream(data, IDS, budget=64 << 20)
    assert stream.tampered and "compressed" in stream.problem
    assert peak < 2 * len(data) + (1 << 20)


def test_arrays_over_the_budget_are_refused_before_they_are_copied():
    big = record({"kind": "call", "id": "c0000"}, npz_of(r0=np.zeros(2 << 20 >> 3)))  # 2 MiB
    data = LOAD + big
    peak = peak_while(lambda: read_stream(data, IDS, budget=1 << 20))
    stream = read_stream(data, IDS, budget=1 << 20)
    assert stream.over_budget and not stream.tampered and stream.calls == {}
    assert peak < 256 * 1024  # the 2 MiB array was never copied


def test_the_budget_counts_every_record_of_a_run():
    # Each record alone fits; together they are over: the third is refused.
    many = LOAD + b"".join(
        record({"kind": "call", "id": i, "n_results": 1}, npz_of(r0=np.zeros(50_000))) for i in IDS)
    stream = read_stream(many, IDS, budget=1 << 20)
    assert list(stream.calls) == ["c0000", "c0001"] and stream.over_budget
    assert stream.spent <= 1 << 20


def test_metadata_is_charged_to_the_budget():
    fat = record({"kind": "call", "id": "c0000", "pad": [[]] * 40_000})  # ~160 KiB of JSON
    stream = read_stream(LOAD + fat, IDS, budget=1 << 20)
    assert stream.over_budget and stream.calls == {}


def test_many_small_records_cannot_pile_up():
    flood = record({"kind": "load"}) * 100_000
    records, problem = parse_records(flood, max_array_bytes=1 << 20)
    assert len(records) < 1100 and "more than" in problem


def test_read_npz_reads_what_np_savez_writes():
    arrays = {"r0": np.arange(6, dtype=np.int32).reshape(2, 3), "a0": np.asfortranarray(np.eye(3)),
              "r1": np.zeros((0, 4)), "r2": np.float32(2.5)}
    budget = Budget(LIMIT)
    got = read_npz(memoryview(npz_of(**arrays)), budget)
    assert set(got) == set(arrays)
    assert all(np.array_equal(got[k], v) and got[k].dtype == v.dtype for k, v in arrays.items())
    assert got["r0"].flags.writeable  # copies, not views of the raw stream
    assert 0 < budget.spent < 8 * 1024
