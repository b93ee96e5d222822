"""Notebook PDFs for manual grading: every cell and output in the PDF's text, plots as images."""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import zipfile
import zlib

import nbformat
import pytest

from autograder.classroom.notebook_pdf import CSP, notebook_html, render_submissions


def tools_or_skip():
    from autograder.classroom.notebook_pdf import find_browser

    missing = [name for name, found in (("chromium", find_browser()), ("pdftotext", shutil.which("pdftotext")),
                                        ("pdfimages", shutil.which("pdfimages"))) if not found]
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{', '.join(missing)} required in CI (apt-get install chromium poppler-utils)")
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install chromium poppler-utils)")


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A valid grey PNG, standing in for a matplotlib plot."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def student_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Written answer\n\nSoftmax is shift invariant because exp cancels."),
        nbformat.v4.new_code_cell("def softmax(z):\n    return z - z.max()\nprint('sums to one')",
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="sums to one\n")]),
        nbformat.v4.new_code_cell("plot_losses()", outputs=[nbformat.v4.new_output(
            "display_data", data={"image/png": base64.b64encode(tiny_png()).decode(), "text/plain": "<Figure>"})]),
        nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<p id='x'>table row</p>"
                                               "<script>document.body.innerHTML = 'PWNED'</script>"})]),
        nbformat.v4.new_markdown_cell("Final remark: the loss curve flattens after epoch three."),
    ]
    return nb


def test_html_has_the_csp_first_so_nothing_can_run_or_load():
    html = notebook_html(student_notebook(), title="ada")
    head = html.split("<head>", 1)[1]
    assert head.lstrip().startswith(f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
                                    f'content="{CSP}">')
    assert "script-src" not in CSP and "default-src 'none'" in CSP  # scripts fall back to 'none'


def test_a_notebook_cannot_navigate_the_page_away_with_a_meta_refresh():
    """CSP does not cover <meta http-equiv=refresh>: a page sent to file:///etc/... would be
    printed into the student's own PDF. Every <meta> the notebook wrote is gone."""
    nb = student_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(
        'x <META\n http-equiv="refresh" content="0;url=file:///etc/passwd"> y'))
    nb.cells[3].outputs[0]["data"]["text/html"] += '<meta http-equiv=refresh content="0;url=file:///etc">'
    html = notebook_html(nb, title="ada")
    assert html.lower().count("<meta") == 2 and "file:///etc" not in html and "x  y" in html


def test_each_student_gets_a_pdf_with_every_cell_outputs_and_plots(tmp_path):
    tools_or_skip()
    folder = tmp_path / "class"
    folder.mkdir()
    nbformat.write(student_notebook(), folder / "ada_lovelace.ipynb")
    with zipfile.ZipFile(folder / "Ben Jones (export).zip", "w") as zf:
        zf.writestr("a1_softmax.ipynb", nbformat.writes(student_notebook()))
    (folder / "cleo.py").write_text("def softmax(z):\n    return z  # cleo's attempt\n")
    (folder / "dan.ipynb").write_text("{not json")  # reported, and the others still rendered
    rendered = {r.student: r for r in render_submissions(folder, tmp_path / "pdf")}
    assert rendered["dan"].pdf is None and "not a readable notebook" in rendered["dan"].problem
    assert all(r.pdf is not None for s, r in rendered.items() if s != "dan"), [r.problem for r in rendered.values()]
    files = sorted(p.name for p in (tmp_path / "pdf").iterdir())
    assert files == ["Ben_Jones__export.pdf", "ada_lovelace.pdf", "cleo.pdf", "manifest.csv"]
    for name in ("ada_lovelace.pdf", "Ben_Jones__export.pdf"):
        pdf = tmp_path / "pdf" / name
        text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                       check=True).stdout.split())
        for expected in ("Written answer", "Softmax is shift invariant because exp cancels.",
                         "def softmax(z):", "return z - z.max()", "sums to one", "plot_losses()", "show()",
                         "table row", "Final remark: the loss curve flattens after epoch three."):
            assert expected in text, (name, expected, text[:500])
        assert "PWNED" not in text  # the output's script never ran
        images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True)
        assert len(images.stdout.strip().splitlines()) - 2 >= 1  # the plot (two header lines)
    cleo = subprocess.run(["pdftotext", str(tmp_path / "pdf" / "cleo.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "cleo's attempt" in cleo
    manifest = (tmp_path / "pdf" / "manifest.csv").read_text().splitlines()
    assert manifest[0] == "file,student,name,lms_id,source,problem" and len(manifest) == 5


def test_pdf_command_and_the_grade_option(tmp_path, capsys):
    tools_or_skip()
    from autograder.cli import main
    from autograder.kit_folders import SOLUTIONS_DIR

    folder = tmp_path / "class"
    folder.mkdir()
    nbformat.write(student_notebook(), folder / "ada.ipynb")
    assert main(["pdf", str(folder), "--out", str(tmp_path / "pdf")]) == 0
    assert (tmp_path / "pdf" / "ada.pdf").is_file() and "1 of 1 notebook(s)" in capsys.readouterr().out
    (folder / "ada.ipynb").write_bytes((SOLUTIONS_DIR / "a1_softmax" / "samples" / "ada.ipynb").read_bytes())
    assert main(["grade", "a1_softmax", str(folder), "--out", str(tmp_path / "out"),
                 "--pdf", str(tmp_path / "graded-pdf")]) == 0
    assert (tmp_path / "graded-pdf" / "ada.pdf").is_file()
