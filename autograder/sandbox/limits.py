"""Resource limits for one sandboxed run: one typed object, each field with its reason."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Defaults suit a NumPy-only assignment.

    cpu_seconds:     RLIMIT_CPU for the whole run (import + every call).
    wall_seconds:    wall-clock limit; past it the process tree is killed.
    load_seconds:    time for executing the submission's top-level code (notebook cells).
    call_seconds:    time for one call of a student function; a function that overruns
                     once is not called again, so one infinite loop costs one function.
    memory_bytes:    RLIMIT_AS (address space) of each process, and the memory cap of the
                     whole process tree (the sandbox's cgroup) where there is one.
    file_bytes:      RLIMIT_FSIZE: largest file the submission may write.
    tmp_bytes:       size of the private tmpfs working directory and /tmp.
    processes:       pids.max of the sandbox's cgroup and RLIMIT_NPROC for its leased uid
                     (bounds fork bombs; threads count too).
    open_files:      RLIMIT_NOFILE.
    result_bytes:    most bytes of results the grader reads back and keeps, all runs of a
                     submission together (the raw stream is capped at the same figure).
    log_bytes:       most bytes of the submission's stdout/stderr the grader keeps.
    address_space_bytes: RLIMIT_AS when it must differ from ``memory_bytes`` (0: the same).
                     CUDA reserves virtual address space for all of the GPU's memory, far
                     beyond what it uses, so the GPU stage sets it apart; the cgroup's cap
                     (``memory_bytes``) still bounds what the tree really uses.
    """

    cpu_seconds: float = 20.0
    wall_seconds: float = 40.0
    load_seconds: float = 10.0
    call_seconds: float = 3.0
    memory_bytes: int = 1024 * MiB
    file_bytes: int = 16 * MiB
    tmp_bytes: int = 64 * MiB
    processes: int = 32
    open_files: int = 64
    result_bytes: int = 64 * MiB
    log_bytes: int = 64 * 1024
    address_space_bytes: int = 0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (value > 0 or (name == "address_space_bytes" and value == 0)):
                raise ValueError(f"Limits.{name} must be positive, got {value!r}")
        if self.load_seconds > self.wall_seconds:
            raise ValueError("Limits.load_seconds cannot exceed wall_seconds")
