"""A one-file HTML report for the TA: who ran, who did not and why, what failed most.

Self-contained (inline CSS and SVG, no scripts, no network), so it opens anywhere.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from collections.abc import Sequence

from .grade import GRADED, SubmissionResult
from .gradebook import format_points

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.num{text-align:right}.warn{background:#fff3cd;padding:.5em 1em;border:1px solid #e0c36c}
.bar{fill:#4a7bd0}.axis{font-size:11px;fill:#444}
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


def report_html(results: Sequence[SubmissionResult], *, title: str, questions: Sequence[str],
                question_points: dict[str, float], warning: str = "") -> str:
    e = html.escape
    max_score = sum(question_points.values())
    scores = [r.score for r in results]
    statuses = Counter(r.status for r in results)
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)} report</title>"
           f"<style>{CSS}</style></head><body><h1>{e(title)}: grading report</h1>"]
    if warning:
        out.append(f"<p class='warn'>{e(warning)}</p>")
    out.append("<h2>Summary</h2><table>")
    out.append(f"<tr><th>submissions</th><td class='num'>{len(results)}</td></tr>")
    for status, n in sorted(statuses.items()):
        out.append(f"<tr><th>status {e(status)}</th><td class='num'>{n}</td></tr>")
    if scores:
        out.append(f"<tr><th>mean score</th><td class='num'>{statistics.mean(scores):.2f} / "
                   f"{format_points(max_score)}</td></tr>")
        out.append(f"<tr><th>median score</th><td class='num'>{statistics.median(scores):.2f}</td></tr>")
    out.append("</table><h2>Score distribution</h2>")
    out.append(_histogram_svg(scores, max_score))
    out.append("<h2>Points per question</h2><table><tr><th>question</th><th>max</th>"
               "<th>mean</th><th>full marks</th></tr>")
    for q in questions:
        got = [r.question_scores(questions)[q] for r in results]
        full = sum(1 for g in got if g >= question_points[q])
        mean = statistics.mean(got) if got else 0.0
        out.append(f"<tr><td>{e(q)}</td><td class='num'>{format_points(question_points[q])}</td>"
                   f"<td class='num'>{mean:.2f}</td><td class='num'>{full} / {len(got)}</td></tr>")
    out.append("</table><h2>Pass rate per test</h2><table><tr><th>test</th><th>checks that it</th>"
               "<th>passed</th></tr>")
    totals: dict[str, list[int]] = {}
    descriptions: dict[str, str] = {}
    for r in results:
        for c in r.case_results:
            totals.setdefault(c.case.case_id, [0, 0])
            totals[c.case.case_id][0] += int(c.passed)
            totals[c.case.case_id][1] += 1
            descriptions[c.case.case_id] = c.case.description
    for case_id, (passed, n) in totals.items():
        out.append(f"<tr><td>{e(case_id)}</td><td>{e(descriptions[case_id])}</td>"
                   f"<td class='num'>{passed} / {n}</td></tr>")
    out.append("</table><h2>Submissions that did not run cleanly</h2>")
    failed = [r for r in results if r.status != GRADED]
    if failed:
        out.append("<table><tr><th>submission</th><th>status</th><th>why</th></tr>")
        for r in failed:
            why = r.messages[0] if r.messages else ""
            out.append(f"<tr><td>{e(r.submission)}</td><td>{e(r.status)}</td><td>{e(why[:300])}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>None.</p>")
    out.append("<h2>Slowest submissions</h2><table><tr><th>submission</th><th>seconds</th></tr>")
    for r in sorted(results, key=lambda r: -r.seconds)[:10]:
        out.append(f"<tr><td>{e(r.submission)}</td><td class='num'>{r.seconds:.2f}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out)
