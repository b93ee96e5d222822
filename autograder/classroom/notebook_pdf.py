"""PDFs of submitted notebooks for manual grading (written answers, plots), without LaTeX.

    submissions (any layout autograder grade reads) -> each student's notebook
    -> HTML (nbconvert's HTML exporter: every cell, its outputs, plots as embedded images)
    -> PDF (headless Chromium's print-to-PDF)  -> DIR/<student>.pdf, DIR/manifest.csv

The HTML comes from a student's file, so it is treated as hostile: a
Content-Security-Policy, the first thing in the page, allows nothing but inline styles and
embedded images (so no script runs: Chromium's own switch for JavaScript also stops its
print-to-PDF), and Chromium runs with a throw-away profile, a dead proxy and a time limit. File names keep only ``A-Za-z0-9._-`` (Gradescope's bulk PDF
upload, and any file system, accept them); manifest.csv maps each file to the student id
and the name the LMS gave, for matching PDFs to students on Gradescope.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..outputs import csvsafe

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Any <meta ...> tag, whatever its case or line breaks; a ">" inside a quoted value ends the
# match early, and what is left then starts with no "<", so it is plain text.
META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
RENDER_SECONDS = 120
# Nothing may load or run: only the inline styles nbconvert writes and embedded images.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
PRINT_CSS = """
@page { size: A4; margin: 14mm; }
body { font-size: 11pt; }
pre, code, .jp-OutputArea-output pre { white-space: pre-wrap !important; word-break: break-word; }
img { max-width: 100%; height: auto; }
.jp-Cell { break-inside: avoid-page; }
"""


class PdfError(RuntimeError):
    """A notebook could not be rendered (no browser, a broken notebook, a timeout)."""


@dataclass(frozen=True)
class RenderedPdf:
    student: str
    source: str      # the submission as found (file or folder label)
    pdf: Path | None  # None when it failed
    problem: str = ""


def find_browser() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def notebook_of(path: Path) -> dict:
    """The submission's notebook as JSON: a .ipynb, the .ipynb in an export zip or a folder,
    or a .py file shown as one code cell."""
    import nbformat

    path = Path(path)
    if path.is_dir():
        books = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        scripts = sorted(path.rglob("*.py"))
        if not books and not scripts:
            raise PdfError(f"{path.name}: no notebook or Python file")
        return notebook_of(books[0] if books else scripts[0])
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".ipynb") and "checkpoint" not in n)
            if not names:
                raise PdfError(f"{path.name}: no notebook in the zip")
            text = archive.read(names[0]).decode("utf-8", errors="replace")
        return nbformat.reads(text, as_version=4)
    if path.suffix.lower() == ".py":
        notebook = nbformat.v4.new_notebook()
        notebook.cells.append(nbformat.v4.new_code_cell(path.read_text(errors="replace")))
        return notebook
    try:
        return nbformat.reads(path.read_text(encoding="utf-8", errors="replace"), as_version=4)
    except (ValueError, json.JSONDecodeError) as exc:
        raise PdfError(f"{path.name}: not a readable notebook ({exc})") from None


def notebook_html(notebook, *, title: str) -> str:
    """Self-contained HTML of ``notebook`` with its outputs; nothing in it can run or load."""
    from nbconvert import HTMLExporter

    # nbconvert's sanitize_html escapes rendered Markdown wholesale (headings print as "<h1>"),
    # so the page's Content-Security-Policy is what keeps scripts and network out.
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    exporter.exclude_input_prompt = False
    html, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    # A CSP cannot stop <meta http-equiv="refresh"> (a navigation, e.g. to file:///etc/...,
    # that would end up printed in the student's PDF): every <meta> goes, ours come first.
    html = META_TAG.sub("", html)
    head = ('<meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<style>{PRINT_CSS}</style>")
    return html.replace("<head>", "<head>" + head, 1) if "<head>" in html else head + html


def html_to_pdf(html_path: Path, pdf_path: Path, *, browser: str | None = None,
                seconds: float = RENDER_SECONDS) -> None:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (the page's CSP keeps scripts off)."""
    browser = browser or find_browser()
    if browser is None:
        raise PdfError("no headless Chromium found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="ag-chromium-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--disable-extensions", "--no-first-run", "--proxy-server=127.0.0.1:9",
                   "--no-pdf-header-footer",
                   f"--user-data-dir={profile}", f"--print-to-pdf={pdf_path}", html_path.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium took more than {seconds:g} s") from None
    if done.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        raise PdfError(f"Chromium could not print the notebook (exit {done.returncode}): "
                       f"{done.stderr.strip()[-300:]}")


def _previous_files(out_dir: Path) -> set[str]:
    """The PDFs an earlier run listed in ``out_dir/manifest.csv`` (only those are the kit's to
    remove: the folder may hold the TA's own files)."""
    try:
        with open(out_dir / "manifest.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))[1:]
    except (OSError, UnicodeDecodeError, csv.Error):
        return set()
    return {row[0] for row in rows if row and row[0].endswith(".pdf") and Path(row[0]).name == row[0]}


def render_submissions(submissions: Path, out_dir: Path, *, browser: str | None = None) -> list[RenderedPdf]:
    """One PDF per student under ``out_dir`` (named after the student id), and manifest.csv."""
    from ..outputs.feedback import feedback_names  # the same file names as the feedback files
    from .discover import find_submissions
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    browser = browser or find_browser()
    if browser is None:
        raise PdfError("no headless Chromium found (apt-get install chromium)")
    rendered = []
    with tempfile.TemporaryDirectory(prefix="ag-pdf-") as work:
        found, _ = find_submissions(Path(submissions), Path(work) / "found")
        names = {sid: name[: -len(".txt")] + ".pdf" for sid, name in feedback_names([f.student for f in found]).items()}
        for item in found:
            target = out_dir / names[item.student]
            try:
                notebook = notebook_of(item.path)
                page = Path(work) / f"{target.stem}.html"
                page.write_text(notebook_html(notebook, title=item.student), encoding="utf-8")
                html_to_pdf(page, target, browser=browser)
                rendered.append(RenderedPdf(item.student, item.label, target))
            except (PdfError, OSError, ValueError, zipfile.BadZipFile) as exc:
                target.unlink(missing_ok=True)
                rendered.append(RenderedPdf(item.student, item.label, None, str(exc)))
        owners = {f.student: f.owner for f in found}
    for stale in _previous_files(out_dir) - set(names.values()):  # of submissions no longer there
        (out_dir / stale).unlink(missing_ok=True)
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "student", "name", "lms_id", "source", "problem"])
    for r in sorted(rendered, key=lambda r: r.student):
        owner = owners[r.student]
        writer.writerow([r.pdf.name if r.pdf else "", r.student, owner.name, owner.lms_id, r.source, r.problem])
    (out_dir / "manifest.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return rendered


# --- the command line (cli.py registers these) --------------------------------------------------

def _print_rendered(rendered: list[RenderedPdf], out_dir: Path) -> int:
    failed = [r for r in rendered if r.pdf is None]
    print(f"pdf:       {len(rendered) - len(failed)} of {len(rendered)} notebook(s) -> {out_dir}/ "
          f"(manifest.csv maps files to students)")
    for r in failed[:10]:
        print(f"           not rendered: {r.student}: {r.problem}")
    return 1 if failed and len(failed) == len(rendered) else 0


def cmd_pdf(args) -> int:
    out_dir = Path(args.out)
    return _print_rendered(render_submissions(Path(args.submissions), out_dir), out_dir)


def register(sub) -> None:
    """``autograder pdf SUBMISSIONS --out DIR``."""
    p = sub.add_parser("pdf", help="one PDF per submitted notebook, for manual grading (Gradescope upload)",
                       description="Render each student's notebook (cells, outputs, plots) to DIR/<id>.pdf "
                                   "with headless Chromium; no LaTeX. SUBMISSIONS: any layout `grade` reads.")
    p.add_argument("submissions", metavar="SUBMISSIONS")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_pdf)


def add_grade_option(parser) -> None:
    """``--pdf DIR`` on ``autograder grade``."""
    parser.add_argument("--pdf", metavar="DIR",
                        help="also render each submitted notebook to DIR/<id>.pdf for manual grading")


def pdf_from_args(args) -> None:
    """After ``autograder grade``: the PDFs ``--pdf`` asks for (a rendering failure never fails grading)."""
    if getattr(args, "pdf", None):
        try:
            _print_rendered(render_submissions(Path(args.submissions), Path(args.pdf)), Path(args.pdf))
        except PdfError as exc:
            print(f"pdf:       not written: {exc}")
