"""Exam build outputs: manifest, PDFs (text extracted), keys, Moodle XML, QTI 1.2 and 2.1."""

from __future__ import annotations

import csv
import json
import math
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest
from kit_paths import EXAMPLES
from pdftext import compile_pdf, pages_text

from autograder.exam import bank
from autograder.exam.build import build_exam
from autograder.exam.markup import format_number
from autograder.exam.seeding import SecretError, read_secret
from autograder.exam.variants import RosterError, read_exam_roster, read_manifest

EXAMPLES = EXAMPLES / "exam"
QTI12 = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
QTI21 = "{http://www.imsglobal.org/xsd/imsqti_v2p1}"
CP = "{http://www.imsglobal.org/xsd/imscp_v1p1}"
TEMPLATES = len(bank.BUILT_IN) + 2  # the example exam: every built-in template and 2 instructor ones


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("exam")
    roster = out / "roster.csv"
    roster.write_text("student_id,name\ns1,Ada Lovelace\ns2,=Ben Okafor\ns3,Chloé #1 $Dupont$\n", encoding="utf-8")
    secret = out / "secret.txt"
    secret.write_text("a-test-secret-that-is-long-enough\n")
    result = build_exam(roster=roster, secret_file=secret, exam_id="mid", out=out / "build", title="DL midterm",
                        templates_dir=EXAMPLES / "templates")
    return result, read_manifest(out / "build" / "manifest.json")


def entries(manifest):
    for v in manifest["variants"]:
        for q in v["questions"]:
            yield v, q


def test_manifest_records_seeds_params_keys_tolerances_versions(built):
    result, manifest = built
    assert manifest["exam_id"] == "mid" and len(manifest["variants"]) == 3
    assert len(manifest["templates"]) == TEMPLATES  # the built-in ones + 2 instructor templates
    for _, q in entries(manifest):
        assert re.fullmatch(r"[0-9a-f]{64}", q["seed"]) and q["params"] and q["version"] >= 1
        if q["kind"] == "numeric":
            assert q["tolerance"] == pytest.approx((q["atol"] + q["rtol"] * abs(q["key"]) * 10.0 ** -q["unit_exponent"])
                                                   / 10.0 ** -q["unit_exponent"])
    instructor = [t for t in manifest["templates"] if t["source"] != "built-in"]
    assert all(len(t["source_sha256"]) == 64 for t in instructor)
    assert "secret" not in json.dumps(manifest).lower().replace("secret_fingerprint", "")


def test_each_student_pdf_has_name_and_id_on_every_page(built):
    result, manifest = built
    for v in manifest["variants"]:
        pages = pages_text((result.out / "pdf" / f"{v['student_id']}.pdf").read_bytes())
        assert len(pages) >= 2
        for page in pages:
            assert v["name"] in page and f"ID {v['student_id']}" in page


def test_pdf_shows_the_students_numbers_in_math_notation(built):
    result, manifest = built
    v = manifest["variants"][0]
    text = pages_text((result.out / "pdf" / f"{v['student_id']}.pdf").read_bytes())
    joined = "".join(text).replace("−", "-")
    q = next(q for q in v["questions"] if q["template"] == "kl_divergence")
    assert "".join(format_number(x) for x in q["params"]["p"]).replace("0.", "0.") in re.sub(r"[(),]", "", joined)
    assert "∑" in joined and "softmax" in joined  # real math, not ASCII


def test_print_file_holds_every_student_and_answer_key_every_key(built):
    result, manifest = built
    pages = pages_text(result.files["print"].read_bytes())
    for v in manifest["variants"]:
        assert any(v["name"] in p for p in pages)
    assert all(any(v["name"] in p for v in manifest["variants"]) for p in pages)
    key_text = "".join(pages_text(result.files["key"].read_bytes())).replace("−", "-")
    for _, q in entries(manifest):
        if q["kind"] == "numeric":
            assert format_number(q["key"], 6) in key_text


def test_key_csv_and_json_match_the_manifest(built):
    result, manifest = built
    with open(result.files["key_csv"], encoding="utf-8") as handle:
        rows = {(r["student_id"], r["question"]): r for r in csv.DictReader(handle)}
    detail = json.loads(result.files["key_json"].read_text())["entries"]
    assert len(rows) == len(detail) == 3 * TEMPLATES
    for v, q in entries(manifest):
        row = rows[(v["student_id"], q["qid"])]
        if q["kind"] == "numeric":
            assert float(row["key"]) == pytest.approx(q["key"], rel=1e-12)
            assert float(row["tolerance"]) == pytest.approx(q["tolerance"], rel=1e-12)
        else:
            assert row["key"] == ";".join("ABCDEFGHIJ"[i] for i in q["key"])


def test_moodle_xml_numerical_tolerances_and_mistake_answers(built):
    result, manifest = built
    root = ET.parse(result.files["moodle"]).getroot()
    assert root.tag == "quiz"
    questions = [q for q in root if q.get("type") != "category"]
    assert len([q for q in root if q.get("type") == "category"]) == TEMPLATES
    assert len(questions) == TEMPLATES * 3
    by_name = {q.find("name/text").text: q for q in questions}
    for v, q in entries(manifest):
        element = by_name[f"mid Q{q['number']} {q['qid']} v00{manifest['variants'].index(v) + 1}"]
        assert element.find("questiontext").get("format") == "html"
        answers = element.findall("answer")
        if q["kind"] == "numeric":
            assert element.get("type") == "numerical"
            assert answers[0].get("fraction") == "100"
            assert float(answers[0].find("text").text) == pytest.approx(q["key"], rel=1e-12)
            assert float(answers[0].find("tolerance").text) == pytest.approx(q["tolerance"], rel=1e-12)
            wrong = answers[1:]
            assert len(wrong) == len([d for d in q["distractors"] if d["value"] is not None])
            for answer, d in zip(wrong, q["distractors"], strict=False):
                assert answer.get("fraction") == "0"
                assert float(answer.find("text").text) == pytest.approx(d["value"], rel=1e-12)
                assert d["mistake"] in answer.find("feedback/text").text
        else:
            assert element.get("type") == "multichoice"
            assert element.find("single").text == ("true" if q["kind"] == "choice" else "false")
            fractions = [float(a.get("fraction")) for a in answers]
            assert [i for i, f in enumerate(fractions) if f > 0] == q["key"]
            assert sum(f for f in fractions if f > 0) == pytest.approx(100, abs=1e-3)


def _zip_xml(path, name):
    with zipfile.ZipFile(path) as archive:
        return ET.fromstring(archive.read(name))


def test_canvas_qti12_bounds_are_key_plus_minus_tolerance(built):
    result, manifest = built
    with zipfile.ZipFile(result.files["canvas_qti12"]) as archive:
        names = archive.namelist()
        manifest_xml = ET.fromstring(archive.read("imsmanifest.xml"))
        href = manifest_xml.find(f"{CP}resources/{CP}resource").get("href")
        assert href in names and manifest_xml.find(f"{CP}resources/{CP}resource").get("type") == "imsqti_xmlv1p2"
        text = archive.read(href).decode()
    root = ET.fromstring(text)
    assert root.tag == f"{QTI12}questestinterop"
    groups = root.findall(f"{QTI12}assessment/{QTI12}section/{QTI12}section")
    assert len(groups) == TEMPLATES
    items = {i.get("title"): i for g in groups for i in g.findall(f"{QTI12}item")}
    assert all(g.find(f".//{QTI12}selection_number").text == "1" for g in groups)
    for v, q in entries(manifest):
        item = items[f"Q{q['number']} {q['qid']} v00{manifest['variants'].index(v) + 1}"]
        kind = item.find(f".//{QTI12}fieldentry").text
        if q["kind"] == "numeric":
            assert kind == "numerical_question"
            low = float(item.find(f".//{QTI12}vargte").text)
            high = float(item.find(f".//{QTI12}varlte").text)
            assert low == pytest.approx(q["key"] - q["tolerance"]) and high == pytest.approx(q["key"] + q["tolerance"])
            assert high - low >= 1e-3  # survives Canvas's 4-decimal rounding
            for element in item.iter():
                if element.tag in (f"{QTI12}vargte", f"{QTI12}varlte", f"{QTI12}varequal"):
                    assert "e" not in element.text.lower()
        else:
            assert kind in ("multiple_choice_question", "multiple_answers_question")
            labels = [r.get("ident") for r in item.findall(f".//{QTI12}response_label")]
            assert len(labels) == len(q["options"])


def test_qti21_items_carry_the_key_and_tolerance(built):
    result, manifest = built
    with zipfile.ZipFile(result.files["qti21"]) as archive:
        cp = ET.fromstring(archive.read("imsmanifest.xml"))
        resources = cp.findall(f"{CP}resources/{CP}resource")
        assert {r.get("type") for r in resources} == {"imsqti_item_xmlv2p1", "imsqti_test_xmlv2p1"}
        assert all(r.get("href") in archive.namelist() for r in resources)
        test = ET.fromstring(archive.read("assessment_test.xml"))
        assert len(test.findall(f".//{QTI21}assessmentSection")) == TEMPLATES
        items = {}
        for r in resources:
            if r.get("type") == "imsqti_item_xmlv2p1":
                item = ET.fromstring(archive.read(r.get("href")))
                items[item.get("title")] = item
    assert len(items) == 3 * TEMPLATES
    for v, q in entries(manifest):
        item = items[f"Q{q['number']} {q['qid']} v00{manifest['variants'].index(v) + 1}"]
        assert item.tag == f"{QTI21}assessmentItem"
        declaration = item.find(f"{QTI21}responseDeclaration")
        values = [e.text for e in declaration.findall(f"{QTI21}correctResponse/{QTI21}value")]
        if q["kind"] == "numeric":
            assert declaration.get("baseType") == "float"
            assert float(values[0]) == pytest.approx(q["key"], rel=1e-12)
            tol = item.find(f".//{QTI21}equal").get("tolerance").split()
            assert [float(t) for t in tol] == pytest.approx([q["tolerance"]] * 2, rel=1e-12)
            assert item.find(f".//{QTI21}textEntryInteraction") is not None
        else:
            assert values == ["ABCDEFGHIJ"[i] for i in q["key"]]
            interaction = item.find(f".//{QTI21}choiceInteraction")
            assert interaction.get("maxChoices") == ("1" if q["kind"] == "choice" else "0")


def test_fixed_forms_share_questions_within_a_form(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\n" + "".join(f"s{i},Student {i}\n" for i in range(6)))
    secret = tmp_path / "k"
    secret.write_text("another-secret-long-enough")
    result = build_exam(roster=roster, secret_file=secret, exam_id="quiz", out=tmp_path / "o", forms=2,
                        questions=["softmax_axis", "cross_entropy_batch", "multilabel_decision"], pdf=False)
    forms = {}
    for v in result.exam.variants:
        forms.setdefault(v.form, []).append([q.params for q in v.questions])
    assert sorted(forms) == ["A", "B"] and all(len(f) == 3 for f in forms.values())
    assert all(all(p == f[0] for p in f) for f in forms.values())
    assert forms["A"][0] != forms["B"][0]
    root = ET.parse(result.files["moodle"]).getroot()
    assert len([q for q in root if q.get("type") != "category"]) == 3 * 2  # one per form


def test_roster_and_secret_errors_are_clear(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("id,name\n1,A\n")
    with pytest.raises(RosterError, match="student_id"):
        read_exam_roster(bad)
    bad.write_text("student_id,name\n1,A\n1,B\n")
    with pytest.raises(RosterError, match="duplicate"):
        read_exam_roster(bad)
    short = tmp_path / "s"
    short.write_text("short")
    with pytest.raises(SecretError, match="16 bytes"):
        read_secret(short)


def test_numbers_are_finite_in_every_export(built):
    _, manifest = built
    assert all(math.isfinite(q["key"]) for _, q in entries(manifest) if q["kind"] == "numeric")


def test_every_page_says_page_n_of_m(built):
    result, manifest = built
    for v in manifest["variants"]:
        pages = pages_text((result.out / "pdf" / f"{v['student_id']}.pdf").read_bytes())
        assert all(f"page {n} of {len(pages)}" in page for n, page in enumerate(pages, start=1))


def test_print_file_starts_every_student_on_a_new_sheet(built):
    from dataclasses import replace

    from autograder.exam import render_pdf

    result, _ = built
    exam = result.exam
    # one short (odd: padded) exam, one full one, another short one
    variants = [replace(exam.variants[0], questions=exam.variants[0].questions[:2]), exam.variants[1],
                replace(exam.variants[2], questions=exam.variants[2].questions[:1])]
    pages = pages_text(compile_pdf(render_pdf.document(exam, variants)))
    own = [len(pages_text(compile_pdf(render_pdf.document(exam, [v])))) for v in variants]
    assert any(n % 2 for n in own), "the variants should need padding somewhere"
    at = 0
    for v, count in zip(variants, own, strict=True):
        assert at % 2 == 0, f"{v.student.student_id} starts on page {at + 1}, the back of a sheet"
        assert f"page 1 of {count}" in pages[at] and f"ID {v.student.student_id}" in pages[at]
        at += count
        if count % 2 and at < len(pages):
            assert pages[at].strip() == ""  # the blank back of the student's last sheet
            at += 1
    assert at == len(pages)


def test_lms_math_is_tex_for_mathjax_with_a_plain_fallback(built):
    from autograder.exam import moodle

    result, _ = built
    root = ET.parse(result.files["moodle"]).getroot()
    texts = [q.find("questiontext/text").text for q in root if q.get("type") != "category"]
    assert sum("\\(" in t for t in texts) >= len(texts) // 2
    assert not any("^" in re.sub(r"\\\(.*?\\\)", "", t) for t in texts)  # no caret outside TeX
    plain = ET.tostring(moodle.quiz(result.exam, "plain"), encoding="unicode")
    assert "\\(" not in plain and "<i>" in ET.fromstring(plain).find(".//questiontext/text").text


def test_qti21_manifest_names_its_players_and_sends_canvas_to_qti12(built):
    result, _ = built
    cp = _zip_xml(result.files["qti21"], "imsmanifest.xml")
    assert cp.find(f"{CP}metadata/{CP}schema").text == "QTIv2.1 Package"
    description = "".join(cp.find(f"{CP}metadata").itertext())
    assert "QTI 2.1 players" in description and "canvas_qti12.zip" in description


def test_key_csv_neutralises_formula_cells(built):
    result, _ = built
    with open(result.files["key_csv"], encoding="utf-8") as handle:
        names = {r["name"] for r in csv.DictReader(handle)}
    assert "'=Ben Okafor" in names and "=Ben Okafor" not in names
