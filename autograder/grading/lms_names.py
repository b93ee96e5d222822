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

import os
import re
import stat
import unicodedata
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
# Blackboard Learn's "Download assignment": the file, and an info .txt per attempt. Usernames
# are taken to hold no "_" (assignment names may: the username is the last part).
BLACKBOARD_NAME = re.compile(
    r"^(?P<assignment>.+)_(?P<user>[^_\s]+)_attempt_(?P<attempt>\d{4}(?:-\d{2}){5})(?:_(?P<original>.+)|\.txt)$"
)


@dataclass(frozen=True)
class Owner:
    """Who a downloaded entry belongs to, as far as its name tells.

    student:    the stable id used for gradebook rows, feedback files and the cache.
    lms:        "canvas", "canvas-anonymous", "moodle", "blackboard", or "" when the contract's rule applied.
    lms_id:     Canvas user id, Canvas anonymous id, Moodle participant id, Blackboard username ("" when none).
    name:       the student's name as the LMS wrote it ("" when unknown).
    late:       Canvas marked the file late (it gives no time).
    attachment: Canvas's attachment id (which uploaded file), "" elsewhere.
    attempt:    Blackboard's attempt time as named (YYYY-MM-DD-HH-MM-SS, sorts in time order), "" elsewhere.
    """

    student: str
    lms: str = ""
    lms_id: str = ""
    name: str = ""
    late: bool = False
    attachment: str = ""
    attempt: str = ""

    def as_json(self) -> dict:
        data = {"lms": self.lms, "lms_id": self.lms_id, "name": self.name, "late": self.late}
        if self.attachment:
            data["attachment"] = self.attachment
        if self.attempt:
            data["attempt"] = self.attempt
        return data


def _slug(text: str) -> str:
    return re.sub(r"[^\w-]+", "_", text, flags=re.UNICODE).strip("_") or "student"


def readable_name(name: str) -> str:
    """A file name as text every file, CSV and terminal can hold, in one normal form.

    Bytes that are not UTF-8 (a latin-1 name copied from Windows) reach Python as lone
    surrogates, which no UTF-8 writer accepts: they are shown as ``\\xe9``, so the id stays
    distinct and the TA can still find the file. Names are NFC, since macOS writes them
    decomposed (NFD) and the same student must not become two look-alike ids. Control and
    format characters are shown escaped too (``\\n``, ``\\x1b``, ``\\u202e``): a newline
    would split a gradebook row, an ANSI escape would run in the TA's terminal, a direction
    override would show the name reversed.
    """
    try:
        raw = name.encode("utf-8", "surrogateescape")  # the bytes the file system holds
    except UnicodeEncodeError:  # a surrogate no file system gives: show it escaped as well
        raw = name.encode("utf-8", "backslashreplace")
    text = unicodedata.normalize("NFC", raw.decode("utf-8", "backslashreplace"))
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Cf")
                   else ch for ch in text)


def owner_of(path: Path, folder: bool | None = None) -> Owner:
    """The owner of a downloaded file or folder, from its name alone (``readable_name``).

    ``folder``: whether it is a folder, when the caller knows (a zip member's name is not a
    path on this disk); otherwise the disk is asked.
    """
    name = readable_name(path.name)
    folder = _is_folder(path) if folder is None else folder
    moodle = MOODLE_NAME.match(name)
    if moodle and (folder or moodle["original"]):
        return Owner(student=f"{_slug(moodle['name'])}_{moodle['participant']}", lms="moodle",
                     lms_id=moodle["participant"], name=moodle["name"])
    if not folder:
        blackboard = BLACKBOARD_NAME.match(name)
        if blackboard:
            return Owner(student=blackboard["user"], lms="blackboard", lms_id=blackboard["user"],
                         attempt=blackboard["attempt"])
        anonymous = CANVAS_ANONYMOUS_NAME.match(name)
        if anonymous:
            return Owner(student=f"anon_{anonymous['anon']}", lms=CANVAS_ANONYMOUS, lms_id=anonymous["anon"],
                         late=bool(anonymous["late"]), attachment=anonymous["attachment"])
        canvas = CANVAS_NAME.match(name)
        if canvas:
            return Owner(student=f"{canvas['name']}_{canvas['user']}", lms="canvas", lms_id=canvas["user"],
                         name=canvas["name"], late=bool(canvas["late"]), attachment=canvas["attachment"])
    return Owner(student=name if folder else Path(name).stem)


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # gone, unreadable, a name too long: not a folder to look into
        return False
