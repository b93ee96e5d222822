"""Learning-management-system naming: who a downloaded submission belongs to.

Canvas's "Download Submissions" zip holds one file per uploaded file
(``lib/content_zipper.rb``), named

    <name>_<user id>_<attachment id>_<original name>        (on time)
    <name>_LATE_<user id>_<attachment id>_<original name>   (late; older Canvas: ``_late_``)
    anon_<anonymous id>[_LATE]_<attachment id>_<original>   (anonymous grading: no user id)

where <name> is the student's sortable name squashed to lower case (``smithjohn``, or
``smith_john`` in some exports) and the third number identifies the uploaded file, not
the submission. Moodle's "Download submissions" zip (``mod/assign``) holds one folder per
participant and submission plugin (or, without "in folders", files with the same prefix):

    <Full Name>_<participant id>_assignsubmission_<plugin>_[/<original name>]   (before 4.1)
    <Full Name>_<participant id>_assignsubmission_<plugin>/<original name>      (4.1 and later)

Both give a number that is stable for the student and the assignment, so the student id
is ``<name>_<number>`` (``anon_<id>`` under anonymous grading); anything else keeps the
contract's rule (file stem, or folder name). The numbers are kept too: the Canvas user id
is the ``ID`` column of a Canvas grade import, the Moodle participant id the
``Participant <id>`` identifier of Moodle's grading worksheet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CANVAS_NAME = re.compile(
    r"^(?P<name>[^\s/]+?)(?P<late>_LATE|_late)?_(?P<user>\d+)_(?P<attachment>\d+)_(?P<original>.+)$"
)
# Canvas's anonymous ids are short alphanumeric strings (e.g. "kVnLw").
CANVAS_ANONYMOUS_NAME = re.compile(
    r"^anon_(?P<anon>[A-Za-z0-9]+)(?P<late>_LATE|_late)?_(?P<attachment>\d+)_(?P<original>.+)$"
)
MOODLE_NAME = re.compile(
    r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<original>.*))?$"
)
CANVAS_ANONYMOUS = "canvas-anonymous"


@dataclass(frozen=True)
class Owner:
    """Who a downloaded entry belongs to, as far as its name tells.

    student:    the stable id used for gradebook rows, feedback files and the cache.
    lms:        "canvas", "canvas-anonymous", "moodle", or "" when the contract's rule applied.
    lms_id:     Canvas user id, Canvas anonymous id or Moodle participant id ("" when none).
    name:       the student's name as the LMS wrote it ("" when unknown).
    late:       Canvas marked the file late (it gives no time).
    attachment: Canvas's attachment id (which uploaded file), "" elsewhere.
    """

    student: str
    lms: str = ""
    lms_id: str = ""
    name: str = ""
    late: bool = False
    attachment: str = ""

    def as_json(self) -> dict:
        data = {"lms": self.lms, "lms_id": self.lms_id, "name": self.name, "late": self.late}
        if self.attachment:
            data["attachment"] = self.attachment
        return data


def _slug(text: str) -> str:
    return re.sub(r"[^\w-]+", "_", text, flags=re.UNICODE).strip("_") or "student"


def owner_of(path: Path) -> Owner:
    """The owner of a downloaded file or folder, from its name alone."""
    name = path.name
    moodle = MOODLE_NAME.match(name)
    if moodle and (path.is_dir() or moodle["original"]):
        return Owner(student=f"{_slug(moodle['name'])}_{moodle['participant']}", lms="moodle",
                     lms_id=moodle["participant"], name=moodle["name"])
    if not path.is_dir():
        anonymous = CANVAS_ANONYMOUS_NAME.match(name)
        if anonymous:
            return Owner(student=f"anon_{anonymous['anon']}", lms=CANVAS_ANONYMOUS, lms_id=anonymous["anon"],
                         late=bool(anonymous["late"]), attachment=anonymous["attachment"])
        canvas = CANVAS_NAME.match(name)
        if canvas:
            return Owner(student=f"{canvas['name']}_{canvas['user']}", lms="canvas", lms_id=canvas["user"],
                         name=canvas["name"], late=bool(canvas["late"]), attachment=canvas["attachment"])
    return Owner(student=name if path.is_dir() else path.stem)
