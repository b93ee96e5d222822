"""What one ``autograder grade`` call goes through, counted rather than estimated.

Rerun: .venv/bin/python benchmarks/call_path.py [ASSIGNMENT]

Grades one sample submission (the reference solution as a .py file) through the real command
line, in this process, with a profiler hook on every thread, and records each call from one
function of the kit's package into another (the sandboxed runner is a separate process and is
not counted). It prints

- the kit's functions called and the files they are in (import-time code not counted);
- the steps a reader follows: the chain of the kit's functions from ``cli.main`` down to each
  step's own function (the sandbox started, a case judged, the mistakes diagnosed, the cache
  entry stored, feedback and gradebook written), with the files the chain passes through;
- the calls from one layer of the package into a layer above it (tests/test_layers.py forbids
  such imports; this counts the calls, which a lazy import or a callback could still make);
- with ``--tree``, the whole call tree from ``cli.main``, each function once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

import autograder
from autograder import cli
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.layers import LEVEL, part_of

PACKAGE = Path(autograder.__file__).resolve().parent
_GENERATED = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>", "<module>")
# Where each step of a grading run ends up: the chain of calls down to it is what a reader follows.
STEPS = {
    "discover the class": ("classroom/discover.py", "list_class"),
    "read the grader's copy": ("grading/pipeline.py", "read_submission"),
    "run in the sandbox": ("sandbox/launch.py", "run_runner"),
    "judge a case": ("grading/evaluate.py", "evaluate_case"),
    "diagnose mistakes": ("grading/pipeline.py", "diagnose_result"),
    "record the cache entry": ("classroom/resume.py", "ResultCache.store"),
    "write feedback": ("outputs/feedback.py", "feedback_text"),
    "write the gradebook": ("outputs/gradebook.py", "write_gradebook"),
}


def _where(code) -> tuple[str, str] | None:
    """(file relative to the package, function) of a code object of the kit, else None."""
    try:
        rel = Path(code.co_filename).resolve().relative_to(PACKAGE)
    except ValueError:
        return None
    name = getattr(code, "co_qualname", code.co_name)
    if name.split(".")[-1] in _GENERATED:
        return None
    return rel.as_posix(), name


def _chain(frame) -> list[tuple[str, str]]:
    """The kit's functions on the stack, outermost first."""
    chain = []
    while frame is not None:
        where = _where(frame.f_code)
        if where is not None:
            chain.append(where)
        frame = frame.f_back
    return chain[::-1]


def trace(argv: list[str]) -> tuple[dict, list, dict]:
    """Run the command line on ``argv``: (caller -> ordered callees, functions in first-seen
    order, step -> the chain of calls that first reached it)."""
    callees: dict = defaultdict(list)
    order: list = []
    chains: dict = {}
    lock = threading.Lock()
    targets = {where: step for step, where in STEPS.items()}

    def hook(frame, event, arg):
        if event != "call":
            return
        callee = _where(frame.f_code)
        if callee is None or (frame.f_back is not None and frame.f_back.f_code.co_name == "<module>"):
            return  # not the kit's, or run while a module is imported (class bodies, constants)
        if callee in targets and targets[callee] not in chains:
            chains[targets[callee]] = _chain(frame)
        caller_frame = frame.f_back
        caller = None
        while caller_frame is not None and caller is None:
            caller = _where(caller_frame.f_code)
            caller_frame = caller_frame.f_back
        with lock:
            if caller is not None and callee not in callees[caller]:
                callees[caller].append(callee)
            if callee not in order:
                order.append(callee)

    threading.setprofile(hook)
    sys.setprofile(hook)
    try:
        code = cli.main(argv)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    if code != 0:
        raise SystemExit(f"autograder {' '.join(argv)} exited {code}")
    return callees, order, chains


def _layer(file: str) -> int:
    """The layer of a file given relative to the package (grading/pipeline.py, cli.py)."""
    return LEVEL[part_of("autograder." + file.removesuffix(".py").replace("/", "."))]


def print_tree(callees, root, depth: int) -> None:
    seen = set()

    def walk(node, level):
        seen.add(node)
        print(f"{'  ' * level}{node[0]}: {node[1]}")
        if level + 1 >= depth:
            return
        for child in callees.get(node, ()):
            if child not in seen:
                walk(child, level + 1)

    walk(root, 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment", nargs="?", default="a1_softmax")
    parser.add_argument("--tree", type=int, metavar="DEPTH", default=0,
                        help="also print the call tree from cli.main to this depth")
    args = parser.parse_args(argv)
    reference = (SOLUTIONS_DIR / args.assignment / "reference.py").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        (folder / "student.py").write_text(reference)
        callees, order, chains = trace(["grade", args.assignment, str(folder), "--out", str(Path(tmp) / "out"),
                                "--jobs", "1"])
    files = sorted({file for file, _ in order})
    upward = sorted({(a, b) for a, children in callees.items() for b in children if _layer(b[0]) > _layer(a[0])})
    root = next(node for node in order if node[1] == "main" and node[0] == "cli.py")
    print(f"autograder grade {args.assignment} (one submission): {len(order)} functions of the kit "
          f"called, in {len(files)} files")
    print(f"calls into a layer above the caller: {len(upward)}")
    for caller, callee in upward:
        print(f"  {caller[0]}:{caller[1]} -> {callee[0]}:{callee[1]}")
    print("\nthe steps, each as the chain of calls from cli.main that first reached it:")
    for step in STEPS:
        chain = chains.get(step)
        if chain is None:
            print(f"  {step}: not reached")
            continue
        thread = chain[0] != ("cli.py", "main")  # a worker thread's stack starts at its task
        files = {file for file, _ in chain}
        print(f"  {step}: {len(chain)} calls deep{' in a worker thread' if thread else ''}, "
              f"through {len(files)} files")
        print("    " + " -> ".join(f"{file.removesuffix('.py')}:{name}" for file, name in chain))
    if args.tree:
        print(f"\nthe call tree from cli.main, each function once, {args.tree} levels:")
        print_tree(callees, root, args.tree)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
