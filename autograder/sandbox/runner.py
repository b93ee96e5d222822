"""The only kit code that runs inside the sandbox, next to the student's code.

It is deliberately standalone (standard library + NumPy, never the ``autograder``
package): it loads the submission's code cells, calls the student's functions on
inputs the grader chose, and streams back plain numeric arrays. Nothing it sends
is trusted: the grader validates every byte and does all comparisons itself, so a
submission that tampers with this runner can only spoil its own results.

There is deliberately no guard in here (no snapshot of patched modules, no restore):
everything after the submission's first line is hostile, and trace hooks, threads, frames
or a forged record would reach any guard. Probes return raw data (draws, weights, shapes),
never a verdict, so whatever a submission patches, the most it can send is values it could
have returned honestly, which the grader then judges.

Protocol (results pipe, one record per event)::

    record  = MAGIC (4 bytes) | json_len (uint32 LE) | npz_len (uint64 LE) | json | npz
    records = "load" (one), "call" (one per call, in order), "done" (last)

Inputs (read-only directory ``--in``): ``code.json`` ``{"cells": [str, ...], "module": str,
"import_paths": [name, ...]}`` (the names of ``--data`` folders put at the front of ``sys.path``
before the cells run, first first, as Jupyter has the notebook's folder there),
``calls.json`` ``[{"id", "function", "args": [ref], "kwargs": {name: ref}}]`` where a ref is
``{"array": key}`` (a key of ``arrays.npz``) or ``{"value": json_scalar}``. A call with a
``"probe"`` is made through the assignment's ``probes.py`` (also in ``--in``), as
``probe(fns, *args, **kwargs)`` with ``fns`` a read-only view of the submission's names;
``--data name=path`` (repeatable) becomes ``probes.DATA``.
"""

import io
import json
import os
import signal
import struct
import sys
import time
import traceback
import types
import warnings

MAGIC = b"AGR1"
MAX_MESSAGE = 300


class CallTimeout(BaseException):
    """Raised by the per-call alarm; a BaseException so ``except Exception`` cannot swallow it."""


class MissingFunction(KeyError):
    """A probe asked for a name the submission does not define."""


class Functions:
    """The submission's names as a probe sees them: ``fns[name]``, ``name in fns``,
    ``fns.get(name)``; a clear error when a name is missing or not callable.

    Nothing here protects the probe: the submission can reach and change anything in this
    process. Probes therefore return raw data only, and the grader judges it outside.
    """

    def __init__(self, namespace):
        self._namespace = namespace

    def __getitem__(self, name):
        value = self._namespace.get(name)
        if not callable(value):
            raise MissingFunction(name)
        return value

    def __contains__(self, name):
        return callable(self._namespace.get(name))

    def get(self, name, default=None):
        return self[name] if name in self else default


def load_probes(directory, data):
    """The assignment's probes.py as a module, or (None, error info) when it cannot load."""
    path = os.path.join(directory, "probes.py")
    if not os.path.exists(path):
        return None, None
    module = types.ModuleType("probes")
    module.__file__ = path
    try:
        with open(path) as f:
            source = f.read()
        exec(compile(source, "<probes>", "exec", dont_inherit=True), module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - e.g. the submission broke an import
        return None, {"type": "HarnessError", "message": _short("%s: %s" % (type(exc).__name__, exc))}
    module.DATA = dict(data)
    return module, None


def _parse_args(argv):
    opts = {"site": [], "data": {}}
    it = iter(argv)
    for flag in it:
        value = next(it)
        if flag == "--site":
            opts["site"].append(value)
        elif flag == "--data":
            name, _, path = value.partition("=")
            opts["data"][name] = path
        else:
            opts[flag.lstrip("-").replace("-", "_")] = value
    return opts


def _drop_privileges(uid, gid, nproc):
    """Become an unprivileged uid (when started as root) and cap its process count.

    RLIMIT_NPROC counts processes per real uid and does not bind root, so it is set
    only after the switch.
    """
    import resource

    if os.getuid() == 0 and uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SystemExit("runner: could not drop root")
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _short(text):
    text = str(text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _error_info(exc):
    info = {"type": type(exc).__name__, "message": _short(exc)}
    if isinstance(exc, MemoryError):
        info["memory"] = True
    tb = exc.__traceback__
    while tb is not None:  # innermost frame that belongs to the submission
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("<cell "):
            info["cell"] = int(name[6:-1])
            info["line"] = tb.tb_lineno
        tb = tb.tb_next
    return info


def encode_record(meta, arrays=None):
    """One record of the protocol: MAGIC | json_len | npz_len | json | npz (np.savez, stored)."""
    import numpy as np

    payload = b""
    if arrays:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        payload = buf.getvalue()
    head = json.dumps(meta).encode()
    return MAGIC + struct.pack("<IQ", len(head), len(payload)) + head + payload


class ResultStream:
    def __init__(self, fd):
        os.set_inheritable(fd, False)
        self.fd = fd

    def send(self, meta, arrays=None):
        view = memoryview(encode_record(meta, arrays))
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def _fake_otter():
    """A stand-in ``otter`` module: the notebook's grader.check/export cells become no-ops."""

    class Notebook:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    module = types.ModuleType("otter")
    module.Notebook = Notebook
    return module


def _alarm(seconds):
    def on_alarm(signum, frame):
        raise CallTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _cancel_alarm():
    signal.setitimer(signal.ITIMER_REAL, 0)


def load_cells(cells, module_name, seconds):
    """Execute each code cell in one namespace, like 'Run All' that carries on past errors."""
    namespace = {"__name__": module_name, "__builtins__": __builtins__}
    report = []
    deadline = time.monotonic() + seconds
    for index, source in enumerate(cells):
        entry = {"cell": index}
        filename = "<cell %d>" % index
        try:
            code = compile(source, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            entry["syntax_error"] = {
                "type": type(exc).__name__,
                "message": _short(getattr(exc, "msg", exc)),
                "cell": index,
                "line": getattr(exc, "lineno", None),
            }
            report.append(entry)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            entry["error"] = {"type": "LoadTimeout", "message": "time limit for loading reached"}
            entry["timeout"] = True
            report.append(entry)
            break
        try:
            _alarm(remaining)
            exec(code, namespace)
        except CallTimeout:
            entry["error"] = {"type": "LoadTimeout", "message": "cell did not finish in time"}
            entry["timeout"] = True
        except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
            entry["error"] = _error_info(exc)
        finally:
            _cancel_alarm()
        report.append(entry)
        if entry.get("timeout"):
            break
    return namespace, report


def _resolve(ref, arrays):
    import numpy as np

    if "array" in ref:
        return np.array(arrays[ref["array"]], copy=True)
    return ref["value"]


def _to_numeric(value):
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError("returned %s, not a numeric array" % type(value).__name__)
    return np.array(array, copy=True, subok=False)


def _missing(name):
    return {"type": "NameError", "message": "%s is not defined" % name, "missing": True,
            "name": str(name)[:60]}


def run_call(namespace, call, arrays, seconds, probes=None, probes_error=None):
    """Call one student function (directly, or through its probe); returns (meta, arrays)."""
    import numpy as np

    meta = {"kind": "call", "id": call["id"]}
    out = {}
    function = namespace.get(call["function"])
    if not callable(function):
        meta["error"] = _missing(call["function"])
        return meta, out
    if call.get("probe"):
        if probes is None:
            meta["error"] = probes_error or {"type": "HarnessError", "message": "no probes"}
            return meta, out
        probe = getattr(probes, call["probe"])
        fns = Functions(namespace)
        function = lambda *a, **k: probe(fns, *a, **k)  # noqa: E731
    args = [_resolve(ref, arrays) for ref in call["args"]]
    kwargs = {name: _resolve(ref, arrays) for name, ref in call["kwargs"].items()}
    given = list(args) + list(kwargs.values())
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Underflow to 0 is harmless and expected (exp of very negative numbers).
            with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
                _alarm(seconds)
                try:
                    result = function(*args, **kwargs)
                    # Reading the result runs the submission's code too (a tuple subclass,
                    # __array__, __float__, a warning's __str__): under the same alarm, so a
                    # stall there is this call's timeout, not the whole run's.
                    report = {"warnings": [
                        _short("%s: %s" % (w.category.__name__, w.message)) for w in caught[:5]
                    ]}
                    results = tuple(result) if isinstance(result, tuple) else (result,)
                    report["tuple"] = isinstance(result, tuple)
                    report["n_results"] = len(results)
                    for i, item in enumerate(results[:16]):
                        out["r%d" % i] = _to_numeric(item)
                    for i, item in enumerate(given):
                        if isinstance(item, np.ndarray):
                            out["a%d" % i] = np.array(item, copy=True, subok=False)
                finally:
                    _cancel_alarm()
        meta.update(report)
    except CallTimeout:
        meta["error"] = {"type": "CallTimeout", "message": "did not return in time"}
        meta["timeout"] = True
        out = {}
    except MissingFunction as exc:
        meta["error"] = _missing(exc.args[0] if exc.args else "?")
        out = {}
    except BaseException as exc:  # noqa: BLE001
        meta["error"] = _describe(exc, seconds)
        out = {}
    return meta, out


def _describe(exc, seconds):
    """``_error_info`` under an alarm: str() of the submission's exception is its own code."""
    try:
        _alarm(seconds)
        try:
            return _error_info(exc)
        finally:
            _cancel_alarm()
    except BaseException:  # noqa: BLE001 - a message that cannot be read is just not shown
        return {"type": "Exception", "message": "(the error could not be described)"}


def main(argv):
    opts = _parse_args(argv)
    uid = int(opts["uid"]) if opts.get("uid") else None
    gid = int(opts["gid"]) if opts.get("gid") else uid
    _drop_privileges(uid, gid, int(opts["nproc"]) if opts.get("nproc") else None)
    for path in opts["site"]:
        sys.path.append(path)
    stream = ResultStream(int(opts["results_fd"]))

    import numpy as np

    inputs = opts["in"]
    with open(os.path.join(inputs, "code.json")) as f:
        code = json.load(f)
    with open(os.path.join(inputs, "calls.json")) as f:
        calls = json.load(f)
    with np.load(os.path.join(inputs, "arrays.npz"), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}

    sys.modules["otter"] = _fake_otter()
    for name in reversed(code.get("import_paths", [])):  # e.g. modules the notebook imports
        if name in opts["data"]:
            sys.path.insert(0, opts["data"][name])
    os.chdir(opts.get("workdir", os.getcwd()))
    # Before the submission's cells, so a probes.py that cannot even load is told apart from
    # a submission that breaks it later. Not a defence: probes only collect raw data.
    probes, probes_error = load_probes(inputs, opts["data"])
    namespace, report = load_cells(code["cells"], code["module"], float(opts["load_seconds"]))
    stream.send({"kind": "load", "cells": report})

    call_seconds = float(opts["call_seconds"])
    stalled = set()  # a function that timed out once is not called again
    for call in calls:
        if call["function"] in stalled:
            stream.send({
                "kind": "call", "id": call["id"],
                "error": {"type": "Skipped", "message": "an earlier call did not return in time"},
            })
            continue
        meta, out = run_call(namespace, call, arrays, call_seconds, probes, probes_error)
        if meta.get("timeout"):
            stalled.add(call["function"])
        stream.send(meta, out)
    stream.send({"kind": "done"})


if __name__ == "__main__":
    status = 1
    try:
        main(sys.argv[1:])
        status = 0
    except BaseException:  # noqa: BLE001 - report, then leave without running student hooks
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)  # skip atexit hooks and non-daemon threads the submission may have left
