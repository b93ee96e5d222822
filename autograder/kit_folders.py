"""Where the kit's own folders are, for every layer: the sandbox too needs to know what it must
keep students from reading (``SOLUTIONS_DIR``) without importing the course layer."""

from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = KIT_ROOT / "solutions"  # hidden: specs, references, mistakes, probes, checks
ASSIGNMENTS_DIR = KIT_ROOT / "assignments"  # what students receive, one folder per assignment
