"""The kit's one home for points formatting (autograder/outputs/points.py), and its "-0" fix."""

import pytest

from autograder.outputs.points import format_points


@pytest.mark.parametrize("value, text", [(3.0, "3"), (2.5, "2.5"), (1 / 3, "0.3333"), (-1e-9, "0"),
                                          (-0.0, "0"), (0.0, "0"), (-1.5, "-1.5")])
def test_format_points(value, text):
    assert format_points(value) == text


def test_every_points_writer_shares_the_minus_zero_fix():
    from autograder.classroom import late_policy
    from autograder.exam import grading
    from autograder.outputs import gradebook, lms

    assert {gradebook.format_points, late_policy._num, lms._points, grading._points} == {format_points}
