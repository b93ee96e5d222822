"""What a sandbox needs to reach an NVIDIA GPU, and nothing more: device nodes, driver libraries.

    access = discover()                      # /dev/nvidia*, libcuda.so*, libnvidia-*.so*
    isolation.bubblewrap_command(..., gpu=access)   # binds exactly those, see below

The GPU stage (``autograder.grading.gpu_stage``) runs a submission in the same sandbox as every
other case; this module only adds what CUDA cannot work without:

- device nodes: ``/dev/nvidia0`` .. ``/dev/nvidiaN``, ``/dev/nvidiactl``, ``/dev/nvidia-uvm``,
  ``/dev/nvidia-uvm-tools``, ``/dev/nvidia-modeset`` (character devices only; ``/dev/dri`` is
  not needed by CUDA and is left out). Under bubblewrap each is bound with ``--dev-bind``:
  bubblewrap's ``--ro-bind`` and ``--remount-ro`` mount with ``nodev``, on which a device
  node cannot even be opened, and a read-only mount would not stop writes to a device
  anyway (those are the driver's ioctls). What the sandbox cannot do is replace or remove a
  node: it sits on bubblewrap's root-owned ``/dev``; the node's own mode decides who opens it.
- driver libraries: every ``libcuda.so*`` and ``libnvidia-*.so*`` that ``ldconfig -p`` lists
  or that lies in one of ``LIBRARY_DIRS``. Those under a folder the sandbox already sees
  read-only (``/usr``, ``/lib*``) need no bind; the others are bound read-only one file at
  a time (a symbolic link as a link). ``LD_LIBRARY_PATH`` names their folders, because the
  sandbox has no ``/etc/ld.so.cache`` to find them with.

Nothing else changes: no home, no network, no writable path, the same seccomp filter,
cgroup and uid. The kit's cgroups (``cgroups``) only create memory, pids and cpu boxes:
the v1 ``devices`` controller is never joined, and no v2 device program is attached, so
whatever the machine allows the grader for these nodes the sandbox inherits, and nothing
more is allowed by the kit. Without bubblewrap (the fallback) Landlock allows the nodes
read, write and device ioctls (ABI 5), and the library folders read-only.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

DEVICE_PATTERNS = ("nvidia[0-9]*", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
LIBRARY_PATTERNS = ("libcuda.so*", "libnvidia-*.so*")
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/aarch64-linux-gnu",
                "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib")
# Folders the sandbox sees read-only already (isolation._root_binds): no extra bind needed.
ALREADY_VISIBLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin")
_LDCONFIG_LINE = re.compile(r"^\s*(\S+)\s+\(.*\)\s+=>\s+(\S+)\s*$")


@dataclass(frozen=True)
class GpuAccess:
    """device_nodes: absolute paths of the GPU's device nodes; libraries: absolute paths of
    the driver's shared libraries (as found: a symbolic link stays one)."""

    device_nodes: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """Nodes and a libcuda: CUDA has a chance (only a run inside the sandbox can tell)."""
        return bool(self.device_nodes) and any(os.path.basename(p).startswith("libcuda.so")
                                               for p in self.libraries)

    @property
    def library_dirs(self) -> tuple[str, ...]:
        return tuple(sorted({os.path.dirname(p) for p in self.libraries}))

    def describe(self) -> str:
        return f"gpu: {len(self.device_nodes)} device node(s), {len(self.libraries)} driver librar(ies)"


def _is_char_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def find_device_nodes(dev_root: str = "/dev",
                      is_device: Callable[[str], bool] = _is_char_device) -> tuple[str, ...]:
    """The NVIDIA nodes directly under ``dev_root`` (``is_device``: tests pass a fake one)."""
    try:
        names = os.listdir(dev_root)
    except OSError:
        return ()
    found = [os.path.join(dev_root, n) for n in names
             if any(fnmatch.fnmatchcase(n, p) for p in DEVICE_PATTERNS)]
    return tuple(sorted(p for p in found if is_device(p)))


def parse_ldconfig(text: str) -> list[str]:
    """Paths of driver libraries in ``ldconfig -p`` output ('\\tname (libc6,x86-64) => path')."""
    paths = []
    for line in text.splitlines():
        match = _LDCONFIG_LINE.match(line)
        if match and any(fnmatch.fnmatchcase(match.group(1), p) for p in LIBRARY_PATTERNS):
            paths.append(match.group(2))
    return paths


def ldconfig_listing() -> str:
    try:
        done = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


def find_libraries(library_dirs: Iterable[str] = LIBRARY_DIRS, ldconfig_text: str = "") -> tuple[str, ...]:
    """Driver libraries in ``library_dirs`` and in the ``ldconfig -p`` listing, each once."""
    found = {p for p in parse_ldconfig(ldconfig_text) if os.path.lexists(p)}
    for folder in library_dirs:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found |= {os.path.join(folder, n) for n in names
                  if any(fnmatch.fnmatchcase(n, p) for p in LIBRARY_PATTERNS)}
    return tuple(sorted(os.path.abspath(p) for p in found
                        if os.path.isfile(p) or os.path.islink(p)))


def discover(dev_root: str = "/dev", library_dirs: Iterable[str] = LIBRARY_DIRS,
             ldconfig_text: str | None = None,
             is_device: Callable[[str], bool] = _is_char_device) -> GpuAccess:
    """This machine's GPU nodes and driver libraries (empty where there is no NVIDIA GPU)."""
    text = ldconfig_listing() if ldconfig_text is None else ldconfig_text
    return GpuAccess(find_device_nodes(dev_root, is_device), find_libraries(library_dirs, text))


def _visible(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def bubblewrap_binds(access: GpuAccess, already_visible: Iterable[str] = ALREADY_VISIBLE) -> list[str]:
    """The bubblewrap arguments that add ``access`` to the sandbox (after ``--dev /dev``)."""
    roots = tuple(already_visible)
    args: list[str] = []
    for node in access.device_nodes:
        args += ["--dev-bind", node, node]  # see the module doc: ro-bind would mean nodev
    for library in access.libraries:
        if _visible(library, roots):
            continue
        if os.path.islink(library):
            args += ["--symlink", os.readlink(library), library]
        else:
            args += ["--ro-bind", library, library]
    return args


def environment(access: GpuAccess) -> dict[str, str]:
    """What the runner's environment gains: where the driver libraries are."""
    return {"LD_LIBRARY_PATH": ":".join(access.library_dirs)} if access.libraries else {}


def landlock_read_only(access: GpuAccess) -> list[str]:
    """What the fallback's Landlock ruleset must let the sandbox read: the libraries (their
    targets too, where a link points elsewhere)."""
    paths = set(access.libraries)
    paths |= {os.path.realpath(p) for p in access.libraries}
    return sorted(paths)


def python_prefix_paths(executable: str) -> dict:
    """How an interpreter (e.g. the instructor's CUDA python) lays itself out, asked of it:
    {"prefix", "executable", "sites", "extra"}: its purelib/platlib, and the folders on its
    ``PYTHONPATH`` (wheels unpacked beside it, as on a machine without network)."""
    script = ("import json, os, sys, sysconfig; p = sysconfig.get_paths(); "
              "extra = [d for d in os.environ.get('PYTHONPATH', '').split(os.pathsep) if d]; "
              "print(json.dumps({'prefix': sys.base_prefix, 'executable': os.path.realpath(sys.executable), "
              "'version': '%d.%d' % sys.version_info[:2], "
              "'sites': [p['purelib'], p['platlib']], 'extra': extra}))")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "HOME")}
    done = subprocess.run([executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{executable} could not describe itself: {done.stderr.strip()[-300:]}")
    import json

    return json.loads(done.stdout)


def python_layout(executable: str):
    """``isolation.PythonLayout`` of another interpreter (its prefix is bound read-only)."""
    from .isolation import PythonLayout

    info = python_prefix_paths(executable)
    prefix = Path(info["prefix"]).resolve()
    exe = Path(info["executable"])
    if not exe.is_relative_to(prefix):
        exe = prefix / "bin" / f"python{info['version']}"
    kit = Path(__file__).resolve().parents[2]  # a PYTHONPATH entry must never bind the kit (solutions/)
    sites = []
    for site, extra in [(s, False) for s in info["sites"]] + [(s, True) for s in info.get("extra", [])]:
        path = Path(site).resolve()
        if extra and (kit.is_relative_to(path) or path.is_relative_to(kit)):
            continue
        if path.is_dir() and path not in sites:
            sites.append(path)
    return PythonLayout(prefix=prefix, executable=exe, site_dirs=tuple(sites))
