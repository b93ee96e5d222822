"""``autograder exam``: per-student exam variants, answer keys, PDF and LMS exports, grading.

The pipeline, one module per step:

    templates (bank.py built-ins, custom.py instructor files)
    -> seeding.py: HMAC-SHA256(secret; exam, student, question, version) -> numpy Generator
    -> variants.py: draw parameters, solve with the reference solutions, check distractors
    -> manifest (variants.py) -> render_pdf.py (typst), moodle.py, qti.py, keys.py
    -> grading.py: answer sheets, partial credit, common-mistake matching, regrade
    coding.py: a coding exam (seeded hidden inputs, graded by the assignment grader)

Answers are always computed by ``solutions/<a>/reference.py`` and distractors by the
named mistakes in ``solutions/<a>/mistakes.py``: exam keys and homework tests cannot
disagree. See ``docs`` in ``cli.py`` (``autograder exam --help``) for the commands.
"""
