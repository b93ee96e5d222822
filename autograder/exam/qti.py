"""QTI exports: QTI 1.2 as Canvas imports it, and QTI 2.1 (IMS content packages, .zip).

Both are question pools: one group (1.2: a ``section`` drawing one item; 2.1: an
``assessmentSection`` with ``<selection select="1"/>``) per question, one item per
variant (form, or student).

Canvas keeps 4 decimals of a numerical answer and rounds smaller values to 0, so every
numeric question is asked in a unit (10^-k, stated in its text) that makes its tolerance
at least 5e-4 (``model.unit_exponent``), and numbers are written without exponents
(Canvas New Quizzes refuses 1E+6). Formulas are TeX between ``\\( ... \\)`` for MathJax
(``math_style="plain"``: plain Unicode).

Which package is for whom: ``canvas_qti12.zip`` is the one to import into Canvas (Classic
Quizzes, "QTI .zip file"). ``qti21.zip`` is for QTI 2.1 players and item banks (TAO, any
player built on oat-sa/qti-sdk); it is checked against the QTI 2.1 schema and qti-sdk, not
against Canvas, and its manifest says so (``<schema>QTIv2.1 Package</schema>`` and a
description in its metadata).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from .keys import decimal_text
from .markup import to_html
from .model import Question, option_letter
from .variants import Exam

QTI12_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
QTI21_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
IMSCP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
IMSMD_NS = "http://www.imsglobal.org/xsd/imsmd_v1p2"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ET.register_namespace("imsmd", IMSMD_NS)
QTI21_PURPOSE = ("IMS QTI 2.1 package for QTI 2.1 players (TAO, players built on oat-sa/qti-sdk). "
                 "Not for Canvas: import canvas_qti12.zip (QTI 1.2) into Canvas instead.")
MAP_RESPONSE = "http://www.imsglobal.org/question/qti_v2p1/rptemplates/map_response"


def ident(*parts: str) -> str:
    """An XML NCName from parts (QTI identifiers must start with a letter)."""
    text = "_".join(re.sub(r"[^A-Za-z0-9_.-]", "_", p) for p in parts)
    return text if re.match(r"[A-Za-z_]", text) else "i" + text


def _xml_bytes(root: ET.Element) -> bytes:
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _sub(parent, tag, attrib=None, text=None):
    element = ET.SubElement(parent, tag, attrib or {})
    if text is not None:
        element.text = text
    return element


# --- QTI 1.2 (Canvas) -------------------------------------------------------------------

CANVAS_TYPES = {"numeric": "numerical_question", "choice": "multiple_choice_question",
                "multi": "multiple_answers_question"}


def _material(parent, html: str) -> None:
    material = _sub(parent, "material")
    _sub(material, "mattext", {"texttype": "text/html"}, html)


def canvas_item(q: Question, item_id: str, title: str, math_style: str = "tex") -> ET.Element:
    item = ET.Element("item", {"ident": item_id, "title": title})
    metadata = _sub(_sub(item, "itemmetadata"), "qtimetadata")
    for label, entry in (("question_type", CANVAS_TYPES[q.kind]), ("points_possible", decimal_text(q.points))):
        field = _sub(metadata, "qtimetadatafield")
        _sub(field, "fieldlabel", text=label)
        _sub(field, "fieldentry", text=entry)
    presentation = _sub(item, "presentation")
    _material(presentation, f"<p>{to_html(q.prompt, math_style)}</p>")
    processing = ET.Element("resprocessing")
    outcomes = _sub(processing, "outcomes")
    _sub(outcomes, "decvar", {"maxvalue": "100", "minvalue": "0", "varname": "SCORE", "vartype": "Decimal"})
    if q.kind == "numeric":
        response = _sub(presentation, "response_str", {"ident": "response1", "rcardinality": "Single"})
        _sub(_sub(response, "render_fib", {"fibtype": "Decimal"}), "response_label", {"ident": "answer1"})
        condition = _sub(processing, "respcondition", {"continue": "No"})
        either = _sub(_sub(condition, "conditionvar"), "or")
        _sub(either, "varequal", {"respident": "response1"}, decimal_text(q.key))
        bounds = _sub(either, "and")
        _sub(bounds, "vargte", {"respident": "response1"}, decimal_text(q.key - q.tolerance))
        _sub(bounds, "varlte", {"respident": "response1"}, decimal_text(q.key + q.tolerance))
        _sub(condition, "setvar", {"action": "Set", "varname": "SCORE"}, "100")
    else:
        cardinality = "Single" if q.kind == "choice" else "Multiple"
        response = _sub(presentation, "response_lid", {"ident": "response1", "rcardinality": cardinality})
        choices = _sub(response, "render_choice")
        for i, option in enumerate(q.options):
            label = _sub(choices, "response_label", {"ident": option_letter(i)})
            _material(label, to_html(option.text, math_style))
        for i, option in enumerate(q.options):  # feedback naming the mistake behind a distractor
            if option.mistake:
                shown = _sub(processing, "respcondition", {"continue": "Yes"})
                _sub(_sub(shown, "conditionvar"), "varequal", {"respident": "response1"}, option_letter(i))
                _sub(shown, "displayfeedback", {"feedbacktype": "Response", "linkrefid": f"{option_letter(i)}_fb"})
        condition = _sub(processing, "respcondition", {"continue": "No"})
        variables = _sub(condition, "conditionvar")
        if q.kind == "choice":
            _sub(variables, "varequal", {"respident": "response1"}, option_letter(q.key[0]))
        else:
            every = _sub(variables, "and")
            for i, option in enumerate(q.options):
                target = every if option.correct else _sub(every, "not")
                _sub(target, "varequal", {"respident": "response1"}, option_letter(i))
        _sub(condition, "setvar", {"action": "Set", "varname": "SCORE"}, "100")
    item.append(processing)
    for i, option in enumerate(q.options):
        if option.mistake:
            feedback = _sub(item, "itemfeedback", {"ident": f"{option_letter(i)}_fb"})
            _material(_sub(feedback, "flow_mat"),
                      f"Common mistake ({option.mistake}): {option.description}.")
    return item


def canvas_assessment(exam: Exam, math_style: str = "tex") -> ET.Element:
    root = ET.Element("questestinterop", {"xmlns": QTI12_NS})
    assessment = _sub(root, "assessment", {"ident": ident("exam", exam.exam_id), "title": exam.title})
    metadata = _sub(_sub(assessment, "qtimetadata"), "qtimetadatafield")
    _sub(metadata, "fieldlabel", text="cc_maxattempts")
    _sub(metadata, "fieldentry", text="1")
    root_section = _sub(assessment, "section", {"ident": "root_section"})
    variants = exam.distinct_variants()
    for position, template in enumerate(exam.templates):
        group = _sub(root_section, "section", {"ident": ident("group", template.id),
                                               "title": f"Q{position + 1} {template.title}"})
        selection = _sub(_sub(group, "selection_ordering"), "selection")
        _sub(selection, "selection_number", text="1")
        _sub(_sub(selection, "selection_extension"), "points_per_item", text=decimal_text(template.points))
        for v in variants:
            q = v.questions[position]
            group.append(canvas_item(q, ident(q.qid, v.label), f"Q{q.number} {q.qid} {v.label}", math_style))
    return root


def content_manifest(identifier: str, resources: list[tuple[str, str, str]], schema: str = "IMS Content",
                     schema_version: str = "1.1.3", description: str = "") -> ET.Element:
    """An IMS content package manifest: (identifier, type, href) per resource; a
    ``description`` goes into the package's IMS metadata (LOM general/description)."""
    root = ET.Element("manifest", {"xmlns": IMSCP_NS, "identifier": identifier})
    metadata = _sub(root, "metadata")
    _sub(metadata, "schema", text=schema)
    _sub(metadata, "schemaversion", text=schema_version)
    if description:
        general = _sub(_sub(metadata, f"{{{IMSMD_NS}}}lom"), f"{{{IMSMD_NS}}}general")
        _sub(_sub(general, f"{{{IMSMD_NS}}}description"), f"{{{IMSMD_NS}}}langstring", {XML_LANG: "en"},
             description)
    _sub(root, "organizations")
    listing = _sub(root, "resources")
    for rid, rtype, href in resources:
        resource = _sub(listing, "resource", {"identifier": rid, "type": rtype, "href": href})
        _sub(resource, "file", {"href": href})
    return root


def write_canvas(exam: Exam, out: Path, math_style: str = "tex") -> Path:
    """``canvas_qti12.zip``: imsmanifest.xml and the assessment (Canvas: Import > QTI .zip)."""
    folder = ident("exam", exam.exam_id)
    href = f"{folder}/{folder}.xml"
    path = out / "canvas_qti12.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", _xml_bytes(content_manifest(
            ident("manifest", exam.exam_id), [(ident("res", exam.exam_id), "imsqti_xmlv1p2", href)])))
        archive.writestr(href, _xml_bytes(canvas_assessment(exam, math_style)))
    return path


# --- QTI 2.1 ----------------------------------------------------------------------------

def _value(parent, text: str, base_type: str | None = None):
    return _sub(parent, "baseValue" if base_type else "value",
                {"baseType": base_type} if base_type else None, text)


def qti21_item(q: Question, item_id: str, title: str, math_style: str = "tex") -> ET.Element:
    item = ET.Element("assessmentItem", {"xmlns": QTI21_NS, "identifier": item_id, "title": title,
                                         "adaptive": "false", "timeDependent": "false"})
    if q.kind == "numeric":
        declaration = _sub(item, "responseDeclaration",
                           {"identifier": "RESPONSE", "cardinality": "single", "baseType": "float"})
        _value(_sub(declaration, "correctResponse"), decimal_text(q.key))
    else:
        cardinality = "single" if q.kind == "choice" else "multiple"
        declaration = _sub(item, "responseDeclaration",
                           {"identifier": "RESPONSE", "cardinality": cardinality, "baseType": "identifier"})
        correct = _sub(declaration, "correctResponse")
        for i in q.key:
            _value(correct, option_letter(i))
        if q.kind == "multi":
            n_right = len(q.key)
            n_wrong = max(len(q.options) - n_right, 1)
            mapping = _sub(declaration, "mapping", {"lowerBound": "0", "upperBound": decimal_text(q.points),
                                                    "defaultValue": "0"})
            for i, option in enumerate(q.options):
                share = q.points / n_right if option.correct else -q.points / n_wrong
                _sub(mapping, "mapEntry", {"mapKey": option_letter(i), "mappedValue": repr(float(share))})
    score = _sub(item, "outcomeDeclaration", {"identifier": "SCORE", "cardinality": "single", "baseType": "float"})
    _value(_sub(score, "defaultValue"), "0")
    mistakes = [d for d in q.distractors if math.isfinite(d.value)] if q.kind == "numeric" else []
    mistake_options = [(i, o) for i, o in enumerate(q.options) if o.mistake] if q.kind == "choice" else []
    if mistakes or mistake_options:
        _sub(item, "outcomeDeclaration", {"identifier": "FEEDBACK", "cardinality": "single",
                                          "baseType": "identifier"})
    body = _sub(item, "itemBody")
    prompt_html = to_html(q.prompt, math_style)
    if q.kind == "numeric":
        paragraph = _sub(body, "p", text=_plain_html(prompt_html) + " ")
        _sub(paragraph, "textEntryInteraction", {"responseIdentifier": "RESPONSE", "expectedLength": "15"})
    else:
        interaction = _sub(body, "choiceInteraction", {"responseIdentifier": "RESPONSE", "shuffle": "false",
                                                       "maxChoices": "1" if q.kind == "choice" else "0"})
        _sub(interaction, "prompt", text=_plain_html(prompt_html))
        for i, option in enumerate(q.options):
            _sub(interaction, "simpleChoice", {"identifier": option_letter(i)}, _plain_html(to_html(option.text, math_style)))
    if q.kind == "numeric":
        processing = _sub(item, "responseProcessing")
        condition = _sub(processing, "responseCondition")
        branch = _sub(condition, "responseIf")
        equal = _sub(branch, "equal", {"toleranceMode": "absolute",
                                       "tolerance": f"{decimal_text(q.tolerance)} {decimal_text(q.tolerance)}"})
        _sub(equal, "variable", {"identifier": "RESPONSE"})
        _sub(equal, "correct", {"identifier": "RESPONSE"})
        set_score = _sub(branch, "setOutcomeValue", {"identifier": "SCORE"})
        _value(set_score, decimal_text(q.points), "float")
        for d in mistakes:
            tolerance = decimal_text(q.atol / q.scale + q.rtol * abs(d.value))
            other = _sub(condition, "responseElseIf")
            near = _sub(other, "equal", {"toleranceMode": "absolute", "tolerance": f"{tolerance} {tolerance}"})
            _sub(near, "variable", {"identifier": "RESPONSE"})
            _value(near, decimal_text(d.value), "float")
            feedback = _sub(other, "setOutcomeValue", {"identifier": "FEEDBACK"})
            _value(feedback, ident("MISTAKE", d.mistake), "identifier")
        for d in mistakes:
            _sub(item, "modalFeedback", {"outcomeIdentifier": "FEEDBACK", "identifier": ident("MISTAKE", d.mistake),
                                         "showHide": "show"}, f"Common mistake ({d.mistake}): {d.description}.")
    elif q.kind == "choice":
        # match_correct, written out so a distractor can name its mistake in FEEDBACK
        condition = _sub(_sub(item, "responseProcessing"), "responseCondition")
        branch = _sub(condition, "responseIf")
        match = _sub(branch, "match")
        _sub(match, "variable", {"identifier": "RESPONSE"})
        _sub(match, "correct", {"identifier": "RESPONSE"})
        _value(_sub(branch, "setOutcomeValue", {"identifier": "SCORE"}), decimal_text(q.points), "float")
        for i, _option in mistake_options:
            other = _sub(condition, "responseElseIf")
            match = _sub(other, "match")
            _sub(match, "variable", {"identifier": "RESPONSE"})
            _value(match, option_letter(i), "identifier")
            _value(_sub(other, "setOutcomeValue", {"identifier": "FEEDBACK"}), option_letter(i), "identifier")
        for i, option in mistake_options:
            _sub(item, "modalFeedback", {"outcomeIdentifier": "FEEDBACK", "identifier": option_letter(i),
                                         "showHide": "show"},
                 f"Common mistake ({option.mistake}): {option.description}.")
    else:
        _sub(item, "responseProcessing", {"template": MAP_RESPONSE})
    return item


def _plain_html(html: str) -> str:
    """Question text for QTI 2.1 bodies: the HTML markup dropped (text kept, escaped by ET)."""
    import html as html_module

    return html_module.unescape(re.sub(r"<[^>]+>", "", html))


def qti21_test(exam: Exam, refs: list[list[tuple[str, str]]]) -> ET.Element:
    test = ET.Element("assessmentTest", {"xmlns": QTI21_NS, "identifier": ident("test", exam.exam_id),
                                         "title": exam.title})
    part = _sub(test, "testPart", {"identifier": "part1", "navigationMode": "nonlinear",
                                   "submissionMode": "simultaneous"})
    for template, items in zip(exam.templates, refs, strict=True):
        section = _sub(part, "assessmentSection", {"identifier": ident("section", template.id),
                                                   "title": template.title, "visible": "true"})
        _sub(section, "selection", {"select": "1"})
        for item_id, href in items:
            ref = _sub(section, "assessmentItemRef", {"identifier": item_id, "href": href})
            _sub(ref, "weight", {"identifier": "W", "value": decimal_text(template.points)})
    return test


def write_qti21(exam: Exam, out: Path, math_style: str = "tex") -> Path:
    """``qti21.zip``: one assessmentItem per question variant, an assessmentTest, imsmanifest.xml
    (for QTI 2.1 players; Canvas imports ``canvas_qti12.zip``)."""
    path = out / "qti21.zip"
    variants = exam.distinct_variants()
    resources, refs = [], []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for position in range(len(exam.templates)):
            group = []
            for v in variants:
                q = v.questions[position]
                item_id = ident(q.qid, v.label)
                href = f"items/{item_id}.xml"
                archive.writestr(href, _xml_bytes(qti21_item(q, item_id, f"Q{q.number} {q.qid} {v.label}", math_style)))
                resources.append((item_id, "imsqti_item_xmlv2p1", href))
                group.append((item_id, href))
            refs.append(group)
        test_href = "assessment_test.xml"
        archive.writestr(test_href, _xml_bytes(qti21_test(exam, refs)))
        resources.insert(0, (ident("test", exam.exam_id), "imsqti_test_xmlv2p1", test_href))
        archive.writestr("imsmanifest.xml", _xml_bytes(content_manifest(
            ident("manifest", exam.exam_id), resources, schema="QTIv2.1 Package", schema_version="1.0.0",
            description=QTI21_PURPOSE)))
    return path
