"""Gradescope: the autograder zip, and the results.json it writes for every submission.

``autograder build`` writes ``DIR/<a>/autograder/<a>-gradescope.zip``; upload it as the
assignment's autograder. Its layout (Gradescope unpacks it into ``/autograder/source``):

    setup.sh          run once when Gradescope builds the image (as root, network allowed):
                      bubblewrap, Python >= 3.11, a venv with the kit's pinned requirements
    run_autograder    run for every submission: ``python -m autograder gradescope-run``
    gradescope.json   which assignment, where its hidden material is, visibility settings
    requirements.txt  the pinned packages grading needs (a subset of requirements.lock)
    kit/              the kit's package source (installed by setup.sh)
    hidden/           the assignment's hidden material (spec, reference, mistakes, ...)

``gradescope-run`` grades ``<root>/submission/`` with the same ``grade_for_assignment`` as
``autograder grade`` (one grading path) and turns the ``SubmissionResult`` into Gradescope's
results format: one test per case (public cases ``visible``, hidden ones ``after_published``
by default), the overall score, and a student-facing summary. ``<root>`` is ``/autograder``
on Gradescope; ``--root`` or the ``AUTOGRADER_ROOT`` environment variable move it (tests
reproduce the layout in a temporary folder that way). Whatever happens, a results.json is
written: a submission that cannot run scores 0 with a message saying why.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .assignment import ASSIGNMENTS_DIR, KIT_ROOT, STUDENT_SKIP, Assignment, load_assignment
from .cases import points_per_question
from .feedback import STATUS_TEXT
from .grade import GRADED, SubmissionResult, grade_for_assignment
from .gradebook import format_points
from .sandbox import SandboxSettings, resolve_isolation

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
DEFAULT_ROOT = Path("/autograder")
ROOT_ENV = "AUTOGRADER_ROOT"
PYTHON_ENV = "AUTOGRADER_PYTHON"
CONFIG_NAME = "gradescope.json"
VENV = "/opt/dl-autograder/venv"  # outside /autograder: the sandbox uid must be able to read Python
MIN_PYTHON = (3, 11)  # numpy 2.4 (pinned) needs it
# The kit's own distributions grading needs, by the import name they provide.
CORE_DISTRIBUTIONS = ("numpy", "nbformat")
TORCH_DISTRIBUTIONS = ("torch", "torchvision", "pillow")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class GradescopeOptions:
    """Who sees what on Gradescope, in its own words (hidden, after_due_date, after_published, visible).

    hidden_tests:  the hidden cases' tests (default after_published: once grades are published)
    public_tests:  the public cases' tests (students have them anyway)
    score:         the overall result (top-level ``visibility``); it includes hidden cases
    stdout:        the grader's log (``stdout_visibility``); instructors only by default
    """

    hidden_tests: str = "after_published"
    public_tests: str = "visible"
    score: str = "visible"
    stdout: str = "hidden"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value not in VISIBILITIES:
                raise ValueError(f"gradescope {name} visibility {value!r}: choose one of "
                                 f"{', '.join(VISIBILITIES)}")


# --- results.json ---------------------------------------------------------------------------

def results_json(result: SubmissionResult, *, title: str, questions, options: GradescopeOptions) -> dict:
    """Gradescope's results format for one graded submission (score decided by the grading core)."""
    cases = [r.case for r in result.case_results]
    points = points_per_question(questions, cases)
    tests = []
    for qi, question in enumerate(questions, start=1):
        mine = [r for r in result.case_results if r.case.question == question]
        for ci, r in enumerate(mine, start=1):
            tests.append({
                "name": f"{question}: {r.case.description}",
                "number": f"{qi}.{ci}",
                "score": r.points,
                "max_score": r.case.points,
                "status": "passed" if r.passed else "failed",
                "output": "" if r.passed else r.reason,
                "tags": [question, "public" if r.case.public else "hidden"],
                "visibility": options.public_tests if r.case.public else options.hidden_tests,
            })
    return {
        "score": result.score,
        "execution_time": round(result.seconds, 2),
        "output": _summary(result, title=title, total=sum(points.values()), options=options),
        "visibility": options.score,
        "stdout_visibility": options.stdout,
        "extra_data": {"status": result.status, "isolated": result.isolated},
        "tests": tests,
    }


def _summary(result: SubmissionResult, *, title: str, total: float, options: GradescopeOptions) -> str:
    """What the whole submission earned and why; never a hidden case's outcome."""
    lines = [title, f"Status: {STATUS_TEXT.get(result.status, result.status)}",
             f"Score: {format_points(result.score)} / {format_points(total)} (public and hidden tests)"]
    if result.status != GRADED and result.score == 0:
        lines.append("Nothing could be graded: see the messages below, fix the problem and submit again.")
    if result.messages:
        lines += ["", "Messages:"] + [f"  - {m}".replace("\n", "\n    ") for m in result.messages]
    when = HIDDEN_TESTS_SHOWN.get(options.hidden_tests)
    if when:
        lines += ["", when]
    return "\n".join(lines)


HIDDEN_TESTS_SHOWN = {
    "hidden": "The results of the hidden tests are not shown; they count in the score.",
    "after_due_date": "The results of the hidden tests are shown after the due date.",
    "after_published": "The results of the hidden tests are shown once grades are published.",
}


def error_results(message: str, options: GradescopeOptions | None = None) -> dict:
    """The results.json when the kit itself could not grade: 0 points and what happened."""
    options = options or GradescopeOptions()
    return {
        "score": 0,
        "output": "The autograder could not grade this submission (a fault in the grader, not in "
                  f"your code). Please tell your course staff.\n\n{message}",
        "visibility": "visible",
        "stdout_visibility": options.stdout,
        "extra_data": {"status": "grader_error"},
        "tests": [],
    }


# --- gradescope-run -------------------------------------------------------------------------

def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def run_gradescope(root: Path | None = None, *, isolation: str = "auto") -> dict:
    """Grade ``<root>/submission`` and write ``<root>/results/results.json``; returns what was written."""
    root = Path(root or default_root()).resolve()
    source = root / "source"
    options = None
    try:
        config = json.loads((source / CONFIG_NAME).read_text())
        options = GradescopeOptions(**config.get("options", {}))
        protect_hidden(source)
        assignment = load_assignment(source / config["hidden"])
        settings = SandboxSettings(isolation=isolation)
        isolated, warning = resolve_isolation(settings.with_default_limits(assignment.limits))
        print(f"grading {assignment.name} with the kit in {Path(__file__).parent}; sandbox: "
              f"{'bubblewrap' if isolated else 'NONE: ' + warning}", flush=True)
        result = grade_for_assignment(assignment, root / "submission", settings)
        payload = results_json(result, title=assignment.title, questions=assignment.questions,
                               options=options)
        print(f"status {result.status}, score {format_points(result.score)} / "
              f"{format_points(assignment.max_score)} in {result.seconds:.2f} s", flush=True)
    except Exception as exc:  # noqa: BLE001 - the student must get a results.json whatever happens
        traceback.print_exc(file=sys.stdout)  # stdout: instructors only by default
        payload = error_results(f"{type(exc).__name__}: {exc}", options)
    write_results(root / "results" / "results.json", payload)
    return payload


def write_results(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        json.dump(payload, fh, indent=1)
    os.replace(fh.name, path)
    path.chmod(0o644)


def protect_hidden(source: Path) -> None:
    """As root, make the unpacked autograder (hidden material included) root-only.

    Without bubblewrap the runner still drops to the sandbox uid; that uid must not be able
    to read the reference or the hidden cases. (setup.sh does the same at image build.)
    """
    if os.name == "posix" and os.geteuid() == 0:
        source.chmod(0o700)


# --- the zip --------------------------------------------------------------------------------

def needs_torch(hidden_dir: Path) -> bool:
    pattern = re.compile(r"^\s*(import|from)\s+(torch|torchvision)\b", re.MULTILINE)
    return any(pattern.search(p.read_text()) for p in hidden_dir.glob("*.py"))


def pinned_requirements(roots, lock: Path = KIT_ROOT / "requirements.lock") -> list[str]:
    """``name==version`` for ``roots`` and everything they need, pinned as in ``lock``.

    The dependency closure comes from the installed distributions' metadata (extras
    skipped); versions come from the lock file, else from what is installed.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    locked = {}
    if lock.is_file():
        for line in lock.read_text().splitlines():
            name, sep, version = line.strip().partition("==")
            if sep and not name.startswith("#"):
                locked[canonicalize_name(name)] = version
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if name not in locked:
                raise
            seen[name] = locked[name]
            continue
        seen[name] = locked.get(name, dist.version)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [f"{name}=={version}" for name, version in sorted(seen.items())]


def _package_files() -> list[tuple[Path, str]]:
    """(file, name in the zip) for the kit's installable source."""
    files = [(KIT_ROOT / "pyproject.toml", "kit/pyproject.toml"), (KIT_ROOT / "README.md", "kit/README.md")]
    package = KIT_ROOT / "autograder"
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files.append((path, f"kit/autograder/{path.relative_to(package).as_posix()}"))
    return files


def hidden_files(hidden_dir: Path) -> list[Path]:
    """The assignment's hidden modules (spec, reference, mistakes, probes, checks, oracles)."""
    return sorted(p for p in hidden_dir.glob("*.py") if p.is_file())


def setup_script(*, torch: bool) -> str:
    torch_index = f" --extra-index-url {TORCH_INDEX}" if torch else ""
    wanted = ".".join(map(str, MIN_PYTHON))
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (network allowed).
# Installs bubblewrap (the sandbox), a Python >= {wanted} and a virtual environment with the
# kit's pinned requirements, then the kit itself from kit/.
set -euo pipefail
SOURCE="${{AUTOGRADER_ROOT:-/autograder}}/source"
VENV={VENV}
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq bubblewrap ca-certificates >/dev/null

python_ok() {{ "$1" -c 'import sys; sys.exit(sys.version_info < ({", ".join(map(str, MIN_PYTHON))}))' 2>/dev/null; }}
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then PY=$(command -v "$candidate"); break; fi
done
if [ -z "$PY" ]; then
    apt-get install -y -qq software-properties-common >/dev/null
    apt-get install -y -qq python{wanted} python{wanted}-venv >/dev/null || {{
        add-apt-repository -y ppa:deadsnakes/ppa && apt-get update -qq &&
        apt-get install -y -qq python{wanted} python{wanted}-venv >/dev/null; }}
    PY=$(command -v python{wanted})
fi
"$PY" -m venv --help >/dev/null 2>&1 || apt-get install -y -qq "$(basename "$PY")-venv" >/dev/null

mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
"$VENV/bin/python" -m pip install --disable-pip-version-check -q{torch_index} -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps "$SOURCE/kit"
chmod -R a+rX "$(dirname "$VENV")"      # the sandbox uid runs this Python
chmod -R go-rwx "$SOURCE"               # the hidden material: root only

# Fail the image build now, not at the first submission.
AUTOGRADER_ROOT="${{AUTOGRADER_ROOT:-/autograder}}" "$VENV/bin/python" -c \\
    "import json, autograder.assignment as a; \\
     c = json.load(open('$SOURCE/{CONFIG_NAME}')); a.load_assignment('$SOURCE/' + c['hidden'])"
echo "dl-autograder kit installed in $VENV"
"""


RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades /autograder/submission with the kit's
# sandboxed grader and writes /autograder/results/results.json, whatever the submission does.
# AUTOGRADER_ROOT moves /autograder (local tests); AUTOGRADER_PYTHON picks the interpreter.
ROOT="${{{ROOT_ENV}:-/autograder}}"
PYTHON="${{{PYTHON_ENV}:-{VENV}/bin/python}}"
cd "$ROOT" || exit 1
"$PYTHON" -m autograder gradescope-run --root "$ROOT"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # The kit could not even start: still give the student a result and a reason.
    mkdir -p "$ROOT/results"
    cat > "$ROOT/results/results.json" <<'EOF'
{{"score": 0, "stdout_visibility": "hidden", "tests": [],
 "output": "The autograder could not start (a fault in the grader, not in your code). Please tell your course staff."}}
EOF
fi
exit $status
"""


def student_files(assignment: Assignment) -> list[Path]:
    """What students receive of ``assignment`` (public: notebook, helper modules, data)."""
    folder = ASSIGNMENTS_DIR / assignment.name
    return [f for f in folder.rglob("*") if f.is_file() and not set(f.parts) & set(STUDENT_SKIP)]


def write_gradescope_zip(assignment: Assignment, path: Path, options: GradescopeOptions | None = None) -> Path:
    """The Gradescope autograder zip for ``assignment`` (see the module docstring for its layout)."""
    options = options or GradescopeOptions()
    torch = needs_torch(assignment.hidden_dir)
    roots = CORE_DISTRIBUTIONS + (TORCH_DISTRIBUTIONS if torch else ())
    config = {"assignment": assignment.name, "hidden": "hidden", "options": asdict(options),
              "kit_version": _kit_version()}
    path = Path(path)
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        _write_text(zf, "setup.sh", setup_script(torch=torch), executable=True)
        _write_text(zf, "run_autograder", RUN_AUTOGRADER, executable=True)
        _write_text(zf, CONFIG_NAME, json.dumps(config, indent=1) + "\n")
        _write_text(zf, "requirements.txt", "\n".join(pinned_requirements(roots)) + "\n")
        for file, name in _package_files():
            zf.write(file, name)
        for file in hidden_files(assignment.hidden_dir):
            zf.write(file, f"hidden/{file.name}")
        # The student-side files beside the hidden ones, as in a built DIR/<a>/ folder: the
        # modules a5's probes import and the photo excerpt its short finetune reads.
        for file in sorted(student_files(assignment)):
            zf.write(file, f"student/{file.relative_to(ASSIGNMENTS_DIR / assignment.name).as_posix()}")
    shutil.move(tmp, path)
    return path


def _write_text(zf: zipfile.ZipFile, name: str, text: str, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    zf.writestr(info, text)


def _kit_version() -> str:
    from . import __version__

    return __version__
