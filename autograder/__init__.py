"""A trusted autograder for deep-learning assignments: build, grade, check, exam."""

__version__ = "0.1.0"
