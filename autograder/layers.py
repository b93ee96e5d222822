"""The package's layers, bottom to top: a module imports only from its own part or from a
layer below it (``tests/test_layers.py`` holds the package to this; ``benchmarks/call_path.py``
counts calls against it).

    machine, kit_folders, fingerprints,  what the kit needs of the machine and of its own tree,
    csvinput                             and the one reader of the CSV files people hand it
    sandbox                              runs code confined; knows no course
    course                               assignments: cases, mistakes, tolerances, probes
    grading                              one submission: read, run, judge, diagnose
    outputs                              gradebook, feedback, report, LMS files
    classroom                            a class: batch, cache, late policy, progress
    publish, exam                        what students and instructors get
    demo, cli, __main__                  the commands
"""

LAYERS = (
    frozenset({"machine", "kit_folders", "fingerprints", "csvinput", "layers", "__init__"}),
    frozenset({"sandbox"}),
    frozenset({"course"}),
    frozenset({"grading"}),
    frozenset({"outputs"}),
    frozenset({"classroom"}),
    frozenset({"publish", "exam"}),
    frozenset({"demo"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """The part of the package a dotted module name is in: autograder.grading.pipeline ->
    grading, autograder.cli -> cli, autograder -> __init__."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"
