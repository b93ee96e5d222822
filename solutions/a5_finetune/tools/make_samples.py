"""Writes the demo submissions in solutions/a5_finetune/samples/ from the stub notebook.

    .venv/bin/python solutions/a5_finetune/tools/make_samples.py

amara.ipynb  the stub notebook with every function completed (the reference's code)
bo.py        complete, but two classic mistakes: BatchNorm of frozen layers left in train
             mode, and an optimizer over all parameters
cyd.ipynb    the untouched stub
"""

import inspect
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
HIDDEN = HERE.parent
KIT = HIDDEN.parents[1]
sys.path.insert(0, str(KIT))
sys.path.insert(0, str(HIDDEN))

import mistakes  # noqa: E402
import reference  # noqa: E402

QUESTIONS = ("replace_head", "set_trainable", "make_optimizer", "train_one_epoch", "evaluate")
HELPERS = ("_parameterised_layers", "_freeze_norm_statistics")


def completed_notebook():
    nb = nbformat.read(KIT / "assignments" / "a5_finetune" / "a5_finetune.ipynb", as_version=4)
    for cell in nb.cells:
        for name in QUESTIONS:
            if cell.cell_type == "code" and cell.source.startswith(f"def {name}("):
                helpers = "".join(inspect.getsource(getattr(reference, h)) + "\n\n" for h in HELPERS
                                  if h in inspect.getsource(getattr(reference, name)))
                cell.source = (helpers + inspect.getsource(getattr(reference, name))).rstrip()
    nb.cells.insert(3, nbformat.v4.new_code_cell("FLAVOURS = (\"all\", \"top\", \"top_k\")\nMOMENTUM = 0.9", id="a5-sample-constants"))
    return nb


def main(root=None):
    """root: write under this folder instead of the kit, at the same relative paths (the
    freshness test, tests/assignments/test_generated_files.py, compares the two)."""
    out = (HIDDEN if root is None else Path(root) / HIDDEN.relative_to(KIT)) / "samples"
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(completed_notebook(), out / "amara.ipynb")
    by_name = {m.name: m for m in mistakes.MISTAKES}
    source = inspect.getsource(reference)
    for name in ("train_bn_train_mode", "make_optimizer_all_parameters"):
        m = by_name[name]
        source += f"\n\n# {m.description}\n" + inspect.getsource(m.implementation)
        source += f"\n{m.question} = {m.implementation.__name__}\n"
    (out / "bo.py").write_text(source.replace("HIDDEN: never copied into the student folder.",
                                              "A student's submission (demo)."))
    nbformat.write(nbformat.read(KIT / "assignments" / "a5_finetune" / "a5_finetune.ipynb", as_version=4),
                   out / "cyd.ipynb")
    print(f"wrote {sorted(p.name for p in out.iterdir())}")


if __name__ == "__main__":
    main()
