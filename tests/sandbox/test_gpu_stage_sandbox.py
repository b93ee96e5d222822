"""The GPU stage's sandbox: exactly the GPU's device nodes and driver libraries are added.

Runs on any machine: the device nodes and libraries are fakes in a temporary folder (plain
files stand in for character devices), and the commands are built, never started.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.sandbox import Limits, isolation
from autograder.sandbox import gpu as gpu_access

NODES = ("nvidia0", "nvidia1", "nvidiactl", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools")
DISTRACTORS = ("null", "nvme0", "nvidia-caps-x", "dri", "nvidiafoo")


@pytest.fixture
def fake_machine(tmp_path):
    """(dev root, library folder outside /usr) holding fake NVIDIA nodes and libraries."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in NODES + DISTRACTORS:
        (dev / name).write_text("")
    libs = tmp_path / "nvidia" / "lib64"
    libs.mkdir(parents=True)
    for name in ("libcuda.so.580.1", "libnvidia-ml.so.580.1", "libnvidia-ptxjitcompiler.so.580.1",
                 "libfoo.so.1", "libcudart.so.13"):
        (libs / name).write_text("")
    os.symlink("libcuda.so.580.1", libs / "libcuda.so.1")
    return dev, libs


def _access(fake_machine):
    dev, libs = fake_machine
    return gpu_access.discover(str(dev), [str(libs)], ldconfig_text="", is_device=os.path.isfile)


def test_discovery_finds_exactly_the_nodes_and_driver_libraries(fake_machine):
    dev, libs = fake_machine
    access = _access(fake_machine)
    assert access.device_nodes == tuple(sorted(str(dev / n) for n in NODES))
    assert access.libraries == tuple(sorted(str(libs / n) for n in (
        "libcuda.so.1", "libcuda.so.580.1", "libnvidia-ml.so.580.1", "libnvidia-ptxjitcompiler.so.580.1")))
    assert access.usable


def test_discovery_without_nodes_or_libcuda_is_not_usable(tmp_path, fake_machine):
    _, libs = fake_machine
    assert not gpu_access.discover(str(tmp_path / "nowhere"), [str(libs)], ldconfig_text="").usable
    assert gpu_access.discover(str(tmp_path / "nowhere"), [], ldconfig_text="").device_nodes == ()
    dev, _ = fake_machine
    no_cuda = gpu_access.discover(str(dev), [str(tmp_path)], ldconfig_text="", is_device=os.path.isfile)
    assert no_cuda.device_nodes and not no_cuda.usable


def test_real_device_check_refuses_plain_files(fake_machine):
    dev, _ = fake_machine
    assert gpu_access.find_device_nodes(str(dev)) == ()  # the default asks for character devices


def test_ldconfig_listing_is_parsed_for_driver_libraries_only(tmp_path):
    lib = tmp_path / "libcuda.so.1"
    lib.write_text("")
    text = (f"1234 libs found in cache `/etc/ld.so.cache'\n"
            f"\tlibcuda.so.1 (libc6,x86-64) => {lib}\n"
            f"\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\n"
            f"\tlibnvidia-ml.so.1 (libc6,x86-64) => {tmp_path}/absent.so\n")
    assert gpu_access.parse_ldconfig(text) == [str(lib), f"{tmp_path}/absent.so"]
    assert gpu_access.find_libraries([], text) == (str(lib),)  # what is not on disk is left out


def _command(tmp_path, gpu=None):
    layout = isolation.PythonLayout.current()
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    return isolation.bubblewrap_command(bwrap="bwrap", layout=layout, inputs=inputs, limits=Limits(),
                                        uid=61000, results_fd=3, mounts=(("support", str(tmp_path)),),
                                        seccomp_fd=4, gpu=gpu)


def _without(command, added):
    """``command`` with the contiguous run ``added`` removed once (AssertionError if absent)."""
    for start in range(len(command) - len(added) + 1):
        if command[start:start + len(added)] == added:
            return command[:start] + command[start + len(added):]
    raise AssertionError(f"{added} not found in the command")


def test_gpu_command_adds_exactly_the_binds_and_library_path(tmp_path, fake_machine):
    dev, libs = fake_machine
    access = _access(fake_machine)
    cpu, gpu = _command(tmp_path), _command(tmp_path, access)
    binds = gpu_access.bubblewrap_binds(access)
    expected_binds = []
    for node in sorted(str(dev / n) for n in NODES):
        expected_binds += ["--dev-bind", node, node]
    expected_binds += ["--symlink", "libcuda.so.580.1", str(libs / "libcuda.so.1")]
    for name in ("libcuda.so.580.1", "libnvidia-ml.so.580.1", "libnvidia-ptxjitcompiler.so.580.1"):
        expected_binds += ["--ro-bind", str(libs / name), str(libs / name)]
    assert binds == expected_binds
    # The binds come right after bubblewrap's own /dev, and the environment gains only the
    # library folder: remove both and the CPU command is left, argument for argument.
    assert gpu[gpu.index("/dev") + 1:][:len(binds)] == binds
    rest = _without(_without(gpu, binds), ["--setenv", "LD_LIBRARY_PATH", str(libs)])
    assert rest == cpu
    # Nothing writable or shared is added: libraries read-only, no --bind, no new tmpfs/dir.
    assert all(flag in ("--dev-bind", "--ro-bind", "--symlink") for flag in binds[::3])
    assert not any(str(p) in binds for p in (Path.home(), "/tmp", "/etc", str(libs)))


def test_libraries_the_sandbox_already_sees_are_not_bound_again(tmp_path):
    access = gpu_access.GpuAccess(device_nodes=("/dev/nvidia0",),
                                  libraries=("/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                                             "/usr/local/nvidia/lib64/libnvidia-ml.so.1"))
    assert gpu_access.bubblewrap_binds(access) == ["--dev-bind", "/dev/nvidia0", "/dev/nvidia0"]
    assert gpu_access.environment(access) == {
        "LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64"}
    cmd = _command(tmp_path, access)
    assert cmd.count("--dev-bind") == 1 and "--unshare-net" in cmd


def test_without_gpu_the_command_is_unchanged(tmp_path):
    assert _command(tmp_path) == _command(tmp_path, None)
    assert "LD_LIBRARY_PATH" not in _command(tmp_path)
    assert "--dev-bind" not in _command(tmp_path)


def test_fallback_landlock_reads_libraries_and_link_targets(fake_machine):
    _, libs = fake_machine
    access = _access(fake_machine)
    allowed = gpu_access.landlock_read_only(access)
    assert str(libs / "libcuda.so.1") in allowed and str(libs / "libcuda.so.580.1") in allowed
    assert str(libs / "libfoo.so.1") not in allowed


def test_gpu_python_layout_binds_its_prefix_and_sites():
    import sys

    layout = gpu_access.python_layout(sys.executable)
    current = isolation.PythonLayout.current()
    assert layout.prefix == current.prefix
    assert set(current.site_dirs) <= set(layout.site_dirs)
    assert layout.executable.is_relative_to(layout.prefix)


def test_limits_address_space_defaults_to_memory():
    assert Limits().address_space_bytes == 0  # 0: RLIMIT_AS is memory_bytes, as before
    assert Limits(address_space_bytes=1 << 40).address_space_bytes == 1 << 40
    with pytest.raises(ValueError):
        Limits(address_space_bytes=-1)


def test_gpu_python_layout_never_binds_the_kit(monkeypatch, tmp_path):
    import sys

    from autograder.kit_folders import KIT_ROOT

    monkeypatch.setenv("PYTHONPATH", f"{KIT_ROOT}:{KIT_ROOT / 'solutions'}:{tmp_path}")
    layout = gpu_access.python_layout(sys.executable)
    assert tmp_path.resolve() in layout.site_dirs
    # The interpreter's own site-packages may sit inside the kit (./kit puts .venv there); what
    # must never be bound is a PYTHONPATH entry holding the hidden material.
    hidden = (KIT_ROOT / "solutions").resolve()
    assert KIT_ROOT.resolve() not in layout.site_dirs
    assert not any(hidden.is_relative_to(s) or s.is_relative_to(hidden) for s in layout.site_dirs)
