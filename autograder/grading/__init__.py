"""Grading one submission: read it, run it in the sandbox, judge, diagnose, redact."""
