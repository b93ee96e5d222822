"""Shared, bounded generators for test inputs. Randomness only through a seeded Generator.

Each case draws from its own generator, seeded from (assignment, case name), so adding or
reordering cases never changes another case's inputs, and every grading run sees the
same inputs (deterministic gradebooks).
"""

from __future__ import annotations

import hashlib

import numpy as np


def rng_for(assignment: str, case_name: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{assignment}/{case_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def scores(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 3.0) -> np.ndarray:
    """Real-valued scores (logits), normal with standard deviation ``scale``."""
    return rng.normal(0.0, scale, size=shape)


def extreme_scores(rng: np.random.Generator, shape: tuple[int, ...], magnitude: float) -> np.ndarray:
    """Scores near +-``magnitude``: each entry is +-magnitude plus O(1) noise.

    Rows mix signs, so a softmax that does not subtract a per-row maximum overflows
    (exp(1000) = inf) or underflows (exp(-1000) = 0) somewhere.
    """
    signs = rng.choice([-1.0, 1.0], size=shape)
    return signs * magnitude + rng.normal(0.0, 1.0, size=shape)


def probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Rows that sum to 1 along the last axis (a softmax of random scores)."""
    z = scores(rng, shape)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def independent_probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Entries in (0, 1), independent per class (multi-label outputs)."""
    return rng.uniform(0.0, 1.0, size=shape)


def variant_shape(rng: np.random.Generator) -> tuple[int, int]:
    """A drawn (N, C) for a per-student variant: N in [3, 8], C in [3, 6] (small enough to
    run in milliseconds, large enough that a per-row or per-column mistake shows)."""
    return int(rng.integers(3, 9)), int(rng.integers(3, 7))
