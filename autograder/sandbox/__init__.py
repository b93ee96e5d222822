"""Running untrusted submission code: isolation, limits, and the result protocol."""

from .launch import (
    IsolationUnavailable,
    RunOutcome,
    SandboxSettings,
    parse_limit,
    resolve_isolation,
    run_runner,
)
from .limits import Limits
from .protocol import Record, parse_records

__all__ = [
    "IsolationUnavailable", "Limits", "Record", "RunOutcome", "SandboxSettings",
    "parse_limit", "parse_records", "resolve_isolation", "run_runner",
]
