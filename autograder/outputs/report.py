"""A one-file HTML report for the TA: who ran, who did not and why, what failed most.

Self-contained (inline CSS and SVG, no scripts, no network), so it opens anywhere.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence

from ..course.mistakes import Mistake
from ..grading.grade import GRADED, SubmissionResult
from .gradebook import format_points

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.num{text-align:right}.warn{background:#fff3cd;padding:.5em 1em;border:1px solid #e0c36c}
.bar{fill:#4a7bd0}.full{fill:#3a9a5b}.track{fill:#e6e6e6}.axis{font-size:11px;fill:#444}
nav{margin-bottom:1em}section{margin-top:1.5em}
"""


def _histogram_svg(scores: Sequence[float], max_score: float, bins: int = 10) -> str:
    width, height, pad = 520, 160, 24
    counts = [0] * bins
    for s in scores:
        i = min(int(s / max_score * bins), bins - 1) if max_score else 0
        counts[i] += 1
    top = max(counts) or 1
    bar_w = (width - 2 * pad) / bins
    parts = [f'<svg width="{width}" height="{height + 30}" role="img" aria-label="score histogram">']
    for i, c in enumerate(counts):
        h = (height - pad) * c / top
        x = pad + i * bar_w
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{height - h:.1f}" width="{bar_w - 2:.1f}" '
                     f'height="{h:.1f}"><title>{c} submission(s)</title></rect>')
        if c:
            parts.append(f'<text class="axis" x="{x + bar_w / 2 - 4:.1f}" y="{height - h - 3:.1f}">{c}</text>')
        lo = max_score * i / bins
        parts.append(f'<text class="axis" x="{x:.1f}" y="{height + 14}">{format_points(lo)}</text>')
    parts.append(f'<text class="axis" x="{width - pad - 10}" y="{height + 14}">{format_points(max_score)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _question_bars_svg(questions: Sequence[str], means: dict[str, float], full: dict[str, float],
                       points: dict[str, float]) -> str:
    """Per question: mean points (as a share of the maximum) and share with full marks."""
    row, label_w, bar_w = 34, 170, 300
    height = row * len(questions) + 24
    parts = [f'<svg width="{label_w + bar_w + 140}" height="{height}" role="img" '
             f'aria-label="points per question">']
    for i, q in enumerate(questions):
        y = 8 + i * row
        mean_share = means[q] / points[q] if points[q] else 0.0
        parts.append(f'<text class="axis" x="0" y="{y + 12}">{html.escape(q)}</text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y}" width="{bar_w * mean_share:.1f}" '
                     f'height="12"><title>mean {means[q]:.2f} of {format_points(points[q])}</title></rect>')
        parts.append(f'<rect class="full" x="{label_w}" y="{y + 14}" width="{bar_w * full[q]:.1f}" '
                     f'height="8"><title>{100 * full[q]:.0f}% with full marks</title></rect>')
        parts.append(f'<text class="axis" x="{label_w + bar_w + 6}" y="{y + 12}">mean {means[q]:.2f} / '
                     f'{format_points(points[q])}, full {100 * full[q]:.0f}%</text>')
    parts.append(f'<text class="axis" x="{label_w}" y="{height - 2}">blue: mean points; green: share '
                 f'of submissions with full marks</text></svg>')
    return "".join(parts)


def _rate_bar(share: float) -> str:
    return (f'<svg width="104" height="10" role="img" aria-label="{100 * share:.0f}%">'
            f'<rect class="track" x="0" y="0" width="100" height="10"></rect>'
            f'<rect class="bar" x="0" y="0" width="{100 * share:.1f}" height="10"></rect></svg>')


SECTIONS = (
    ("summary", "Summary"),
    ("distribution", "Score distribution"),
    ("questions", "Points per question"),
    ("tests", "Pass rate per test"),
    ("mistakes", "Common mistakes"),
    ("not-run", "Submissions that did not run cleanly"),
    ("slowest", "Slowest submissions"),
)


def report_html(results: Sequence[SubmissionResult], *, title: str, questions: Sequence[str],
                question_points: dict[str, float], warning: str = "",
                mistakes: Sequence[Mistake] = (), recognised: Mapping[str, Mapping[str, Sequence[str]]]
                | None = None, skipped: Sequence[str] = ()) -> str:
    """The report; ``recognised``: submission -> question -> names of the mistakes it shows;
    ``skipped``: entries of the class folder that were not submissions (macOS metadata ...).

    Sections (each an ``<section id=...>``): see ``SECTIONS``. Rows are in a fixed order,
    so the same results give the same bytes.
    """
    e = html.escape
    recognised = recognised or {}
    results = sorted(results, key=lambda r: r.submission)
    max_score = sum(question_points.values())
    scores = [r.score for r in results]
    statuses = Counter(r.status for r in results)
    heading = dict(SECTIONS)
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)} report</title>"
           f"<style>{CSS}</style></head><body><h1>{e(title)}: grading report</h1>"]
    if warning:
        out.append(f"<p class='warn'>{e(warning)}</p>")
    links = " | ".join(f'<a href="#{key}">{e(text)}</a>' for key, text in SECTIONS)
    out.append(f"<nav>{links}</nav>")

    out.append(f"<section id='summary'><h2>{heading['summary']}</h2><table>")
    out.append(f"<tr><th>submissions</th><td class='num'>{len(results)}</td></tr>")
    for status, n in sorted(statuses.items()):
        out.append(f"<tr><th>status {e(status)}</th><td class='num'>{n}</td></tr>")
    if scores:
        out.append(f"<tr><th>mean score</th><td class='num'>{statistics.mean(scores):.2f} / "
                   f"{format_points(max_score)}</td></tr>")
        out.append(f"<tr><th>median score</th><td class='num'>{statistics.median(scores):.2f}</td></tr>")
    out.append("</table></section>")

    out.append(f"<section id='distribution'><h2>{heading['distribution']}</h2>")
    out.append(_histogram_svg(scores, max_score))
    out.append("</section>")

    per_question = [r.question_scores(questions) for r in results]
    means = {q: statistics.mean(s[q] for s in per_question) if results else 0.0 for q in questions}
    full = {q: (sum(1 for s in per_question if s[q] >= question_points[q]) / len(results)) if results else 0.0
            for q in questions}
    out.append(f"<section id='questions'><h2>{heading['questions']}</h2>")
    out.append(_question_bars_svg(questions, means, full, question_points))
    out.append("<table><tr><th>question</th><th>max</th><th>mean</th><th>full marks</th></tr>")
    for q in questions:
        n_full = round(full[q] * len(results))
        out.append(f"<tr><td>{e(q)}</td><td class='num'>{format_points(question_points[q])}</td>"
                   f"<td class='num'>{means[q]:.2f}</td><td class='num'>{n_full} / {len(results)}</td></tr>")
    out.append("</table></section>")

    out.append(f"<section id='tests'><h2>{heading['tests']}</h2><table><tr><th>test</th><th>kind</th>"
               "<th>checks that it</th><th>passed</th><th>rate</th></tr>")
    totals: dict[str, list[int]] = {}
    cases = {}
    for r in results:
        for c in r.case_results:
            totals.setdefault(c.case.case_id, [0, 0])
            totals[c.case.case_id][0] += int(c.passed)
            totals[c.case.case_id][1] += 1
            cases[c.case.case_id] = c.case
    for case_id, (passed, n) in totals.items():
        kind = "public" if cases[case_id].public else "hidden"
        out.append(f"<tr><td>{e(case_id)}</td><td>{kind}</td><td>{e(cases[case_id].description)}</td>"
                   f"<td class='num'>{passed} / {n}</td><td>{_rate_bar(passed / n if n else 0.0)}</td></tr>")
    out.append("</table></section>")

    out.append(f"<section id='mistakes'><h2>{heading['mistakes']}</h2>")
    shown: dict[str, list[str]] = {m.name: [] for m in mistakes}
    for sid in sorted(recognised):
        for names in recognised[sid].values():
            for name in names:
                shown.setdefault(name, []).append(sid)
    by_name = {m.name: m for m in mistakes}
    if shown:
        out.append("<p>Recognised by matching each submission's outputs against the known wrong "
                   "implementations (same failed cases, same wrong values).</p>")
        out.append("<table><tr><th>mistake</th><th>question</th><th>what is wrong</th>"
                   "<th>submissions</th><th>who</th></tr>")
        for name, who in sorted(shown.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            m = by_name.get(name)
            listing = ", ".join(who[:12]) + (f" and {len(who) - 12} more" if len(who) > 12 else "")
            out.append(f"<tr><td>{e(name)}</td><td>{e(m.question if m else '')}</td>"
                       f"<td>{e(m.description if m else '')}</td><td class='num'>{len(who)}</td>"
                       f"<td>{e(listing)}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>This assignment defines no common mistakes.</p>")
    out.append("</section>")

    out.append(f"<section id='not-run'><h2>{heading['not-run']}</h2>")
    failed = [r for r in results if r.status != GRADED]
    if failed:
        out.append("<table><tr><th>submission</th><th>status</th><th>why</th></tr>")
        for r in failed:
            why = r.messages[0] if r.messages else ""
            out.append(f"<tr><td>{e(r.submission)}</td><td>{e(r.status)}</td><td>{e(why[:300])}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>None.</p>")
    if skipped:
        out.append(f"<p id='skipped'>Skipped, not submissions ({len(skipped)}): "
                   + ", ".join(f"<code>{e(s)}</code>" for s in sorted(skipped)) + "</p>")
    out.append("</section>")

    out.append(f"<section id='slowest'><h2>{heading['slowest']}</h2><table><tr><th>submission</th>"
               "<th>status</th><th>seconds</th></tr>")
    for r in sorted(results, key=lambda r: (-r.seconds, r.submission))[:10]:
        out.append(f"<tr><td>{e(r.submission)}</td><td>{e(r.status)}</td>"
                   f"<td class='num'>{r.seconds:.2f}</td></tr>")
    out.append("</table></section></body></html>")
    return "\n".join(out) + "\n"
