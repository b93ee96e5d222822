"""Instructor templates: TOML or JSON files in a folder given with ``--templates DIR``.

No kit code changes: a file names its parameters (drawn from the variant's Generator),
the reference function that computes the answer, and the kit's named mistakes used as
distractors. Example (``examples/exam/templates/ce_two_samples.toml``)::

    id = "ce_two_samples"          # [a-z][a-z0-9_]*, unique in the exam
    version = 1                    # bump after any change: it enters the seed
    kind = "numeric"               # numeric | choice (options: key + mistakes)
    title = "Cross-entropy of two samples"
    topic = "cross-entropy"        # optional
    points = 2                     # optional, default 1
    rtol = 0.01                    # optional, default 0.01
    atol = 0.001                   # optional, default 0.001
    prompt = "Logits {logits}, true classes {y} (numbered from 0). Mean cross-entropy?"

    [params.logits]                # every {name} in prompt must be a parameter
    distribution = "integers"      # integers (low..high inclusive) | uniform | normal | choice
    low = -2
    high = 3
    shape = [2, 3]                 # optional; omitted: a single number

    [params.y]
    distribution = "integers"
    low = 0
    high = 2
    shape = [2]

    [answer]
    assignment = "a2_losses"       # solutions/<assignment>/reference.py
    function = "cross_entropy"     # called as function(*args, **kwargs)
    args = ["logits", "y"]         # parameter names
    kwargs = {}                    # optional: keyword -> literal value
    index = []                     # optional: index into the result, e.g. [0, 1]
    mistakes = ["ce_sum_not_mean"] # optional: names in solutions/<assignment>/mistakes.py

uniform/normal take low/high or mean/std and ``decimals`` (default 1: the values are
rounded to what is printed); choice takes ``values`` (a list of numbers). Every error
names the file and the field.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import numpy as np

try:
    import tomllib
except ImportError:  # Python 3.10: JSON templates only
    tomllib = None

from . import references as refs
from .bank import kit_distractors
from .markup import mat, num, vec
from .model import Solution, Template, TemplateError, conflicts

ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TOP_FIELDS = {"id", "version", "kind", "title", "topic", "points", "rtol", "atol", "prompt", "params", "answer"}
REQUIRED = ("id", "version", "kind", "title", "prompt", "params", "answer")
PARAM_FIELDS = {"distribution", "low", "high", "mean", "std", "decimals", "values", "shape"}
ANSWER_FIELDS = {"assignment", "function", "args", "kwargs", "index", "mistakes"}
DISTRIBUTIONS = ("integers", "uniform", "normal", "choice")


class TemplateFileError(TemplateError):
    def __init__(self, path: Path, field: str, message: str):
        super().__init__(f"{path}: field '{field}': {message}")
        self.path, self.field = path, field


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class FileTemplate(Template):
    """A template read from an instructor's TOML or JSON file."""

    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data
        self.id = data["id"]
        self.version = data["version"]
        self.kind = data["kind"]
        self.title = data["title"]
        self.topic = data.get("topic", "")
        self.points = float(data.get("points", 1))
        self.rtol = float(data.get("rtol", 0.01))
        self.atol = float(data.get("atol", 1e-3))
        self.answer = data["answer"]
        self.params = data["params"]
        self.assignments = (self.answer["assignment"],)
        self.source = str(path)

    def draw(self, rng):
        values = {}
        for name, spec in self.params.items():
            shape = tuple(spec.get("shape", ()))
            dist = spec["distribution"]
            if dist == "integers":
                x = rng.integers(spec["low"], spec["high"] + 1, size=shape)
            elif dist == "choice":
                x = rng.choice(np.array(spec["values"]), size=shape)
            else:
                if dist == "uniform":
                    x = rng.uniform(spec["low"], spec["high"], size=shape)
                else:
                    x = rng.normal(spec.get("mean", 0.0), spec.get("std", 1.0), size=shape)
                x = np.round(x, int(spec.get("decimals", 1)))
            values[name] = np.asarray(x).tolist()
        return values

    def _args(self, params):
        args = tuple(np.array(params[name]) for name in self.answer["args"])
        return args, dict(self.answer.get("kwargs", {}))

    def _pick(self, result):
        index = tuple(self.answer.get("index", []))
        return float(np.asarray(result)[index])

    def solve(self, params):
        a = self.answer
        args, kwargs = self._args(params)
        value = self._pick(refs.function(a["assignment"], a["function"])(*args, **kwargs))
        wrong = kit_distractors(a["assignment"], a["function"], a.get("mistakes", []), args, kwargs, self._pick)
        return Solution(value, wrong)

    def prompt(self, params):
        pieces: list = []
        for literal, name, _spec, _conv in string.Formatter().parse(self.data["prompt"]):
            if literal:
                pieces.append(literal)
            if name is not None:
                value = np.asarray(params[name])
                pieces.append(num(value.item()) if value.ndim == 0 else
                              vec(value.tolist()) if value.ndim == 1 else mat(value.tolist()))
        return pieces


def _check(condition: bool, path: Path, field: str, message: str) -> None:
    if not condition:
        raise TemplateFileError(path, field, message)


def _read(path: Path) -> dict:
    if path.suffix == ".toml" and tomllib is None:
        raise TemplateFileError(path, "(file)", "TOML templates need Python 3.11 or later; use JSON")
    try:
        if path.suffix == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise TemplateFileError(path, "(file)", f"not valid {path.suffix[1:].upper()}: {exc}") from None


def validate_custom_file(path: Path, data: dict) -> None:
    """Every field's type and meaning; raises TemplateFileError naming file and field."""
    _check(isinstance(data, dict), path, "(file)", "must be a table/object")
    for key in data:
        _check(key in TOP_FIELDS, path, key, f"unknown field (allowed: {', '.join(sorted(TOP_FIELDS))})")
    for key in REQUIRED:
        _check(key in data, path, key, "missing")
    _check(isinstance(data["id"], str) and bool(ID.match(data["id"])), path, "id",
           "must match [a-z][a-z0-9_]* (at most 64 characters)")
    _check(isinstance(data["version"], int) and not isinstance(data["version"], bool) and data["version"] >= 1,
           path, "version", "must be an integer >= 1")
    _check(data["kind"] in ("numeric", "choice"), path, "kind", "must be 'numeric' or 'choice'")
    for key in ("title", "prompt", "topic"):
        if key in data:
            _check(isinstance(data[key], str) and data[key].strip() != "", path, key, "must be a non-empty string")
    for key in ("points", "rtol", "atol"):
        if key in data:
            _check(_number(data[key]) and data[key] >= 0, path, key, "must be a number >= 0")
    _check(data.get("points", 1) > 0, path, "points", "must be > 0")
    _check(data.get("rtol", 0.01) > 0 or data.get("atol", 1e-3) > 0, path, "atol", "rtol and atol cannot both be 0")

    params = data["params"]
    _check(isinstance(params, dict) and params, path, "params", "must be a non-empty table of parameters")
    for name, spec in params.items():
        where = f"params.{name}"
        _check(bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name)), path, where, "must be an identifier")
        _check(isinstance(spec, dict), path, where, "must be a table")
        for key in spec:
            _check(key in PARAM_FIELDS, path, f"{where}.{key}",
                   f"unknown field (allowed: {', '.join(sorted(PARAM_FIELDS))})")
        dist = spec.get("distribution")
        _check(dist in DISTRIBUTIONS, path, f"{where}.distribution", f"must be one of {', '.join(DISTRIBUTIONS)}")
        if dist in ("integers", "uniform"):
            for key in ("low", "high"):
                _check(_number(spec.get(key)), path, f"{where}.{key}", "must be a number")
            _check(spec["low"] <= spec["high"], path, f"{where}.high", "must be >= low")
            if dist == "integers":
                for key in ("low", "high"):
                    _check(isinstance(spec[key], int), path, f"{where}.{key}", "must be an integer")
        if dist == "normal":
            _check(_number(spec.get("mean", 0.0)), path, f"{where}.mean", "must be a number")
            _check(_number(spec.get("std", 1.0)) and spec.get("std", 1.0) > 0, path, f"{where}.std",
                   "must be a number > 0")
        if dist == "choice":
            values = spec.get("values")
            _check(isinstance(values, list) and values and all(_number(v) for v in values), path,
                   f"{where}.values", "must be a non-empty list of numbers")
        if "decimals" in spec:
            _check(isinstance(spec["decimals"], int) and 0 <= spec["decimals"] <= 6, path, f"{where}.decimals",
                   "must be an integer from 0 to 6")
        if "shape" in spec:
            shape = spec["shape"]
            _check(isinstance(shape, list) and len(shape) <= 2 and all(isinstance(n, int) and 1 <= n <= 8
                                                                      for n in shape),
                   path, f"{where}.shape", "must be a list of at most 2 sizes from 1 to 8")

    try:
        names = [n for _, n, _, _ in string.Formatter().parse(data["prompt"]) if n is not None]
    except ValueError as exc:
        raise TemplateFileError(path, "prompt", f"bad placeholder: {exc}") from None
    for name in names:
        _check(name in params, path, "prompt", f"placeholder {{{name}}} is not a parameter")

    answer = data["answer"]
    _check(isinstance(answer, dict), path, "answer", "must be a table")
    for key in answer:
        _check(key in ANSWER_FIELDS, path, f"answer.{key}",
               f"unknown field (allowed: {', '.join(sorted(ANSWER_FIELDS))})")
    for key in ("assignment", "function"):
        _check(isinstance(answer.get(key), str), path, f"answer.{key}", "missing or not a string")
    try:
        refs.function(answer["assignment"], answer["function"])
    except refs.ReferenceMissing as exc:
        raise TemplateFileError(path, "answer.function", str(exc)) from None
    args = answer.get("args")
    _check(isinstance(args, list) and all(a in params for a in args), path, "answer.args",
           "must be a list of parameter names")
    _check(isinstance(answer.get("kwargs", {}), dict), path, "answer.kwargs", "must be a table")
    index = answer.get("index", [])
    _check(isinstance(index, list) and all(isinstance(i, int) for i in index), path, "answer.index",
           "must be a list of integers")
    mistakes = answer.get("mistakes", [])
    _check(isinstance(mistakes, list) and all(isinstance(m, str) for m in mistakes), path, "answer.mistakes",
           "must be a list of mistake names")
    for name in mistakes:
        try:
            mistake = refs.mistake(answer["assignment"], name)
        except refs.ReferenceMissing as exc:
            raise TemplateFileError(path, "answer.mistakes", str(exc)) from None
        _check(mistake.question == answer["function"], path, "answer.mistakes",
               f"{name} breaks {mistake.question}, not {answer['function']}")
    if data["kind"] == "choice":
        _check(len(mistakes) >= 1, path, "answer.mistakes", "a choice question needs at least one mistake")


def trial(path: Path, template: FileTemplate, draws: int = 20) -> None:
    """Draw a few variants to catch shape errors and mistakes that never differ from the key."""
    rng = np.random.default_rng(12345)
    good = 0
    for _ in range(draws):
        params = template.draw(rng)
        try:
            with np.errstate(all="ignore"):
                solution = template.solve(params)
        except Exception as exc:  # noqa: BLE001 - any failure of the instructor's spec is reported
            raise TemplateFileError(path, "answer", f"calling the reference failed: "
                                                    f"{type(exc).__name__}: {exc}") from None
        good += not conflicts(template, solution)
    _check(good > 0, path, "answer.mistakes",
           f"in {draws} trial draws a distractor always came within tolerance of the key or another "
           "distractor; widen the parameters or tighten rtol/atol")


def load_file(path: Path) -> FileTemplate:
    data = _read(path)
    validate_custom_file(path, data)
    template = FileTemplate(path, data)
    trial(path, template)
    return template


def load_folder(folder: Path) -> list[FileTemplate]:
    """Every *.toml and *.json file in ``folder`` (sorted by name); ids must be unique."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TemplateError(f"--templates {folder}: not a folder")
    templates, seen = [], {}
    for path in sorted([*folder.glob("*.toml"), *folder.glob("*.json")]):
        template = load_file(path)
        if template.id in seen:
            raise TemplateFileError(path, "id", f"{template.id!r} is already defined in {seen[template.id]}")
        seen[template.id] = path
        templates.append(template)
    if not templates:
        raise TemplateError(f"--templates {folder}: no .toml or .json template files")
    return templates
