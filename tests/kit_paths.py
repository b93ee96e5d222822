"""Where the kit's folders are, for tests in any sub-folder of tests/."""

from pathlib import Path

KIT = Path(__file__).resolve().parents[1]  # the repository root (tests/ is directly under it)
EXAMPLES = KIT / "examples"
TEST_DATA = KIT / "tests" / "data"  # inputs made for the tests (e.g. real Moodle downloads)
