"""Leased sandbox uids: two allocators (threads or grader processes) never share one."""

from __future__ import annotations

import os

import pytest

from autograder.sandbox import uids


def test_two_leases_never_share_a_uid_and_a_released_one_is_free_again(tmp_path):
    first = uids.lease_uid(0, lock_dir=tmp_path)
    second = uids.lease_uid(0, lock_dir=tmp_path)  # the same hint: it must look further
    assert first.uid == uids.FIRST_UID and second.uid == uids.FIRST_UID + 1
    first.release()
    with uids.lease_uid(0, lock_dir=tmp_path) as again:
        assert again.uid == uids.FIRST_UID
    second.release()


def test_a_uid_held_by_another_grader_process_is_skipped(tmp_path):
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # another grader on the same machine, holding uid FIRST_UID + 3
        try:
            lease = uids.lease_uid(3, lock_dir=tmp_path)
            os.write(ready_w, str(lease.uid).encode())
            os.read(done_r, 1)
        finally:
            os._exit(0)
    held = int(os.read(ready_r, 16))
    try:
        mine = [uids.lease_uid(3, lock_dir=tmp_path) for _ in range(2)]
        assert held == uids.FIRST_UID + 3
        assert held not in [lease.uid for lease in mine]
        for lease in mine:
            lease.release()
    finally:
        os.write(done_w, b"x")
        os.waitpid(pid, 0)
    with uids.lease_uid(3, lock_dir=tmp_path) as freed:  # its locks died with it
        assert freed.uid == held


def test_a_full_range_is_an_error_not_a_shared_uid(tmp_path):
    held = [uids.lease_uid(0, lock_dir=tmp_path, count=2) for _ in range(2)]
    with pytest.raises(uids.NoFreeUid):
        uids.lease_uid(0, lock_dir=tmp_path, count=2)
    for lease in held:
        lease.release()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another owner needs root")
def test_lock_folder_must_be_our_own(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)
    with pytest.raises(PermissionError, match="no private folder"):
        uids.private_lock_dir((foreign,))
    mine = tmp_path / "mine"
    assert uids.private_lock_dir((foreign, mine)) == mine
    assert (mine.stat().st_mode & 0o777) == 0o700
