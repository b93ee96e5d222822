"""One mistake loader: a mistake may use the reference's helpers and imports (a5's use
``nn`` and ``_parameterised_layers``), in grading and in exams alike."""

import pytest

from autograder.course.assignment import load_assignment
from autograder.course.mistakes import load_mistakes
from autograder.grading.diagnose import Diagnoser
from autograder.kit_folders import SOLUTIONS_DIR

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def a5():
    return load_assignment("a5_finetune")


def _profile(a5, name):
    mistake = next(m for m in a5.mistakes if m.name == name)
    alone = Diagnoser([mistake], a5.cases, a5.expected, reference=a5.reference, probes=a5.probes,
                      checks=a5.probes_and_checks.checks)
    return mistake, alone.profiles[0]


@pytest.mark.parametrize("name", ["set_trainable_never_unfreezes", "set_trainable_top_k_excludes_head"])
def test_an_a5_mistake_runs_with_the_reference_helpers_it_uses(a5, name):
    # Both call the reference's _parameterised_layers: with the old loader they only raised NameError.
    _, profile = _profile(a5, name)
    assert all(out is not None for out in profile.outputs.values()), "the mistake raised"


def test_the_diagnosis_recognises_an_a5_mistake_from_its_outputs(a5):
    # (set_trainable: the cheap a5 question; train_one_epoch's mistakes each fine-tune a model)
    mistake, mine = _profile(a5, "set_trainable_never_unfreezes")
    passed = {c.case_id: True for c in a5.cases}
    passed.update(mine.passed)
    outputs = {c.case_id: tuple(a5.expected[c.case_id]) for c in a5.cases}
    outputs.update(mine.outputs)
    recognised = Diagnoser.for_assignment(a5).match(passed, outputs)
    assert mistake.name in [m.name for m in recognised]
    assert {m.question for m in recognised} == {"set_trainable"}


def test_a_mistake_module_sees_reference_helpers_and_imports_at_import_time(tmp_path):
    import types

    reference = types.ModuleType("ref")
    exec("import math\n\ndef _helper(x):\n    return x + 1\n\ndef f(x):\n    return _helper(x)\n",
         reference.__dict__)
    (tmp_path / "mistakes.py").write_text(
        "from autograder.course.mistakes import Mistake\n"
        "OFFSET = _helper(0) + int(math.floor(0.5))\n"  # used at import
        "def f_off(x):\n    return _helper(x) + OFFSET\n"
        "def _helper(x):\n    return x + 2\n"  # its own definitions win
        "MISTAKES = [Mistake('off', 'f', 'adds one too many', f_off)]\n")
    (mistake,) = load_mistakes(tmp_path / "mistakes.py", reference, "_test_pipeline_mistakes_mod")
    assert mistake.implementation(1) == 1 + 2 + 1


def test_grading_and_exams_load_the_same_mistakes():
    from autograder.exam import references

    for name in ("a1_softmax", "a2_losses"):
        graded = {m.name: m.description for m in load_assignment(name).mistakes}
        exam = {m.name: m.description for m in references.mistakes(name).values()}
        assert graded == exam and graded
    assert (SOLUTIONS_DIR / "a5_finetune" / "mistakes.py").is_file()
