"""The kit's temporary folders: named after the process that owns them, swept when it is gone.

    $TMPDIR/ag-<kind>-p<pid>.<start>.n<namespace>-<random>/

``<pid>`` and ``<start>`` (the process's start time in clock ticks since boot, field 22
of ``/proc/<pid>/stat``) name the owner; a pid alone is not enough, because the kernel
reuses pids. ``<namespace>`` is the owner's pid namespace: a folder of a grader in another
container (sharing TMPDIR) is never judged by pids this process cannot see. A folder whose owner is no longer running (the grader was SIGKILLed, the
machine lost power) is stale, and ``sweep_stale`` removes it at the next start. Folders
of other programs, and the kit's folders of a live process, are never touched.

Every folder the kit makes in TMPDIR comes from ``kit_tempdir``: ``ag-class`` (a batch:
unpacked class zips, private copies of submissions), ``ag-in`` (a sandbox's inputs),
``ag-work`` (a sandbox's writable folder). ``exit_cleanly_on_sigterm`` turns SIGTERM
into an exception, so that the context managers that remove them run on ``kill`` too,
as they already do on Ctrl-C.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "ag-"
# ag-<kind>-p<pid>.<start>[.n<pid namespace>]-<random>; <kind> is letters only, so the
# pattern is unambiguous. The namespace tells apart graders in containers sharing one TMPDIR,
# whose pids this process cannot see.
OWNED_NAME = re.compile(r"^ag-(?P<kind>[a-z]+)-p(?P<pid>\d+)\.(?P<start>\d+)(?:\.n(?P<ns>\d+))?-")


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), None when it is not running.

    /proc/<pid>/stat is "pid (comm) state ppid ... starttime ..."; comm may hold spaces and
    parentheses, so the fields are counted after the last ')'. starttime is field 22, the
    20th after comm.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_namespace() -> int | None:
    """The inode of this process's pid namespace (``/proc/self/ns/pid`` -> ``pid:[N]``)."""
    try:
        return int(re.sub(r"\D", "", os.readlink("/proc/self/ns/pid")))
    except (OSError, ValueError):
        return None


def _owner_tag() -> str:
    pid, ns = os.getpid(), pid_namespace()
    return f"p{pid}.{process_start(pid) or 0}" + (f".n{ns}" if ns is not None else "")


@contextmanager
def kit_tempdir(kind: str) -> Iterator[str]:
    """A fresh private folder ``$TMPDIR/ag-<kind>-p<pid>.<start>-...``, removed on exit.

    Removal also runs on Ctrl-C and (with ``exit_cleanly_on_sigterm``) on SIGTERM; after a
    SIGKILL the folder stays until ``sweep_stale`` finds its owner gone.
    """
    if not kind.isalpha() or not kind.islower():
        raise ValueError(f"temporary folder kind must be lower-case letters: {kind!r}")
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-{_owner_tag()}-")
    try:
        yield path
    finally:
        remove_tree(path)


def remove_tree(path: str | Path) -> None:
    """``rm -rf``, also through folders a submission made unwritable (chmod 0500) inside."""

    def make_writable_and_retry(function, failed, _exc_info):
        try:
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
            function(failed)
        except OSError:
            pass

    shutil.rmtree(path, onerror=make_writable_and_retry)


def is_stale(name: str) -> bool:
    """True for a kit folder name whose owner process is no longer running.

    Names without an owner tag (another program's, or an older kit's) are never stale:
    nobody can tell whether their owner is alive.
    """
    match = OWNED_NAME.match(name)
    if not match or process_start(os.getpid()) is None:
        return False  # not ours, or no /proc (not Linux): nobody's liveness can be told
    if match["ns"] is not None and int(match["ns"]) != pid_namespace():
        return False  # a grader in another container: its pids are not ours to look up
    pid, start = int(match["pid"]), int(match["start"])
    running = process_start(pid)
    return running is None or (start != 0 and running != start)


def sweep_stale(directory: str | Path | None = None) -> list[Path]:
    """Remove the kit's folders in ``directory`` (default: TMPDIR) whose owner has exited.

    Returns what was removed. Errors (a folder removed meanwhile, no permission to list
    TMPDIR) are not the TA's problem at this point and are ignored.
    """
    root = Path(directory or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not is_stale(entry.name):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        remove_tree(entry.path)
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
    return removed


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` and ``with`` runs."""


# A command stopped by a signal exits 128 + its number, as a shell reports it; what was
# graded is kept either way, so running the command again resumes.
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130: Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143


def interrupted_exit_code(exc: KeyboardInterrupt) -> int:
    """The exit code for a command stopped by Ctrl-C or SIGTERM."""
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _raise_terminated(signum, frame):  # noqa: ARG001 - the signal module's signature
    raise Terminated


@contextmanager
def exit_cleanly_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM raises ``Terminated`` in the main thread (then the old handler is back).

    A no-op outside the main thread, where Python does not allow signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
