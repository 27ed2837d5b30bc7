"""Analysis -> one self-contained HTML page (``leaderboard/index.html``): the findings first, then a
table per suite and data set that sorts by any column, a filter by suite and data set, the
forest plots and Grad-CAM figures (linked relatively), and every run's record linked from its
row. No network fetch: styles and the sorting / filtering script are inline, so the page works
opened from disk and served as a static site. Like the markdown board it only formats
:mod:`medattn_bench.analysis` objects, through the export rows of :mod:`medattn_bench.export`."""

from __future__ import annotations

import math
import os
from html import escape
from pathlib import Path
from typing import Any

from .analysis import SuiteAnalysis
from .export import comparison_rows, run_rows
from .stable import stable_float

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px;
color:#1a1a1a}
h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:16px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;
text-align:left}th{background:#f4f4f4;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"}td.num{text-align:right;font-variant-numeric:tabular-nums}
.better{color:#11772b;font-weight:600}.worse{color:#b3261e;font-weight:600}.equivalent{color:#1a56b3}
#filters{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #eee;z-index:1}
img{max-width:100%;height:auto;border:1px solid #eee}.note{color:#555}.hidden{display:none}
.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}.scroll table{margin:0}
.scroll{margin:8px 0 16px}p,li,h1,h2,h3,summary{overflow-wrap:anywhere}code{font-size:12px;background:#f4f4f4;
padding:0 3px}
@media (max-width:600px){body{padding:0 8px;font-size:13px}table{font-size:12px}th,td{padding:2px 4px}}
"""

JS = """
function cellValue(td){var v=td.getAttribute('data-sort');if(v===null){v=td.textContent.trim();}
var n=parseFloat(v);return (v!==''&&!isNaN(n)&&isFinite(v))?n:v.toLowerCase();}
function sortTable(th){var table=th.closest('table'),tbody=table.tBodies[0],idx=Array.prototype.indexOf.call(
th.parentNode.children,th),asc=th.getAttribute('aria-sort')!=='ascending';
Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');var rows=Array.prototype.slice.call(tbody.rows);
rows.sort(function(a,b){var x=cellValue(a.cells[idx]),y=cellValue(b.cells[idx]);
if(typeof x==='number'&&typeof y==='number'){return asc?x-y:y-x;}
if(typeof x==='number'){return -1;}if(typeof y==='number'){return 1;}
return asc?(x<y?-1:x>y?1:0):(x<y?1:x>y?-1:0);});rows.forEach(function(r){tbody.appendChild(r);});}
function applyFilter(){var s=document.getElementById('f-suite').value,d=document.getElementById('f-dataset').value;
document.querySelectorAll('[data-suite]').forEach(function(el){var ok=(!s||el.getAttribute('data-suite')===s)&&
(!d||!el.hasAttribute('data-dataset')||el.getAttribute('data-dataset')===d);el.classList.toggle('hidden',!ok);});}
document.addEventListener('DOMContentLoaded',function(){document.querySelectorAll('th').forEach(function(th){
th.addEventListener('click',function(){sortTable(th);});});document.getElementById('f-suite').addEventListener(
'change',applyFilter);document.getElementById('f-dataset').addEventListener('change',applyFilter);});
"""


def _num(x: Any, digits: int = 1, signed: bool = False) -> tuple[str, str]:
    """(shown text, sort key) of a number; '–' and an empty key when missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–", ""
    x = stable_float(x)  # the sort key too: a fresh render on another CPU must write the same page
    return (f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"), repr(x)


def _table(headers: list[str], rows: list[list[Any]], attrs: dict[str, str] | None = None) -> str:
    """``rows`` cells: a str (text), or (text, sort key, css class, href)."""
    a = "".join(f' {k}="{escape(v)}"' for k, v in (attrs or {}).items())
    out = [f"<table{a}><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for c in row:
            text, key, cls, href = (c, None, "", None) if isinstance(c, str) else (c + (None,) * 4)[:4]
            inner = f'<a href="{escape(href)}">{escape(text)}</a>' if href else escape(text)
            sort = f' data-sort="{escape(key)}"' if key is not None else ""
            cells.append(f'<td class="{cls}"{sort}>{inner}</td>' if cls else f"<td{sort}>{inner}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return '<div class="scroll">' + "".join(out)


def _inline(text: str) -> str:
    """Escaped text with the board's inline markdown: `code`, **bold**, *italic*, and links to a
    section of the same page, [text](#id)."""
    import re

    out = re.sub(r"\[([^\]]+)\]\(#([\w.-]+)\)", r'<a href="#\2">\1</a>', escape(text))
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)


def _markdown(lines: list[str]) -> str:
    """The markdown renderer's lines for a part of the board (paragraphs, bullet lists, GitHub
    tables, ### and #### headings) as HTML, so the page shows every section the markdown does from the same
    formatting of the same analysis objects."""
    html, para, items, table = [], [], [], []

    def flush() -> None:
        if para:
            html.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            html.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if table:
            cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in table]
            head, body = cells[0], [r for r in cells[2:]]
            html.append('<div class="scroll"><table><thead><tr>' + "".join(f"<th>{_inline(h)}</th>" for h in head)
                        + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r)
                                                          + "</tr>" for r in body) + "</tbody></table></div>")
            table.clear()

    for line in "\n".join(lines).splitlines():
        if not line.strip():
            flush()
        elif line.startswith("|"):
            if para or items:
                flush()
            table.append(line)
        elif line.startswith(("### ", "#### ")):
            flush()
            level = line.index(" ") + 1  # ### -> h4: the page's h2 and h3 are the suite's and the data set's
            html.append(f"<h{level}>{_inline(line[level:])}</h{level}>")
        elif line.startswith("- "):
            if para or table:
                flush()
            items.append(line[2:])
        elif items and line.startswith("  "):
            items[-1] += " " + line.strip()
        else:
            if table:
                flush()
            para.append(line.strip())
    flush()
    return "".join(html)


def _seed_ranges(seeds: list[int]) -> str:
    """0-4, 7, 9-11: a long list of split seeds summarised."""
    out, run = [], []
    for x in sorted(set(seeds)):
        if run and x == run[-1] + 1:
            run.append(x)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)))
        run = [x]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)))
    return ", ".join(out)


def _rel(path: str, base: Path) -> str:
    p = Path(path)
    try:
        return Path(os.path.relpath(p.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive
        return p.as_posix()


def render_page(analyses: list[SuiteAnalysis], figures: dict[str, str], base: Path, markdown: str = "README.md",
                problems: list[str] | tuple[str, ...] = ()) -> str:
    """The page for ``analyses``; links (records, figures) relative to ``base``, the page's folder."""
    from .leaderboard import (CHECKS_INTRO, HEADER, _aa_section, _checks_section, _claims_section, _cost_table,
                              _power_line, _summary, board_order, findings_headers, findings_rows, findings_sentences,
                              leads, protocol_line, provenance_lines, sequential_line, submission_line)

    runs, comps = run_rows(analyses), comparison_rows(analyses)
    suites = [a.name for a in analyses]
    datasets = sorted({d for a in analyses for d in a.datasets})
    body = ["<h1>medattn-bench leaderboard</h1>", f'<p class="note">{_inline(HEADER)} The same analysis as '
            f'<a href="{escape(markdown)}">the markdown board</a>.</p>',
            '<div id="filters">Suite <select id="f-suite"><option value="">all</option>'
            + "".join(f'<option value="{escape(s)}">{escape(s)}</option>' for s in suites)
            + '</select> Data set <select id="f-dataset"><option value="">all</option>'
            + "".join(f'<option value="{escape(d)}">{escape(d)}</option>' for d in datasets) + "</select></div>"]
    for a in filter(leads, analyses):  # the findings first
        rows = [[r.dataset, r.variant, _num(r.paper_delta, 2, True) + ("num",),
                 (f"{100 * r.verdict.delta:+.1f} [{100 * r.verdict.ci_lo:+.1f}, {100 * r.verdict.ci_hi:+.1f}]"
                  if r.verdict else "–", repr(stable_float(100 * r.verdict.delta)) if r.verdict else "", "num"),
                 (r.outcome, None, r.outcome), r.status] for r in findings_rows(a)]
        body += [f'<section data-suite="{escape(a.name)}"><h2 id="findings-{escape(a.name)}">What the study claimed, '
                 f"what this benchmark finds (suite {escape(a.name)})</h2>",
                 f"<p>{_inline(' '.join(findings_sentences(a)))}</p>",
                 f'<p class="note">{_inline(protocol_line(a, analyses))}</p>' if protocol_line(a, analyses) else "",
                 _table(findings_headers(a), rows, {"class": "findings"})]
        if figures.get(f"{a.name}/findings"):
            body.append(f'<p><img src="{escape(figures[a.name + "/findings"])}" alt="forest plot of {escape(a.name)}, '
                        'with the paper\'s reported ΔAUC"></p>')
        body.append("</section>")
    main, checks = board_order(analyses)
    for a in main + checks:
        if checks and a is checks[0]:
            body.append(f'<h2 id="checks">Checks of the statistics</h2><p class="note">{_inline(CHECKS_INTRO)}</p>')
        body += [f'<section data-suite="{escape(a.name)}"><h2 id="suite-{escape(a.name)}">Suite {escape(a.name)}</h2>',
                 f"<p>{_inline(a.info.description.strip())}</p>" if a.info.description else "",
                 _markdown(provenance_lines(a)), _markdown(_claims_section(a)), _markdown(_checks_section(a)),
                 _markdown(["### Cost", ""] + _cost_table(a))]
        if figures.get(a.name) and not leads(a):
            body.append(f'<p><img src="{escape(figures[a.name])}" alt="forest plot of {escape(a.name)}"></p>')
        for ds, d in sorted(a.datasets.items()):
            here = [r for r in runs if r["suite"] == a.name and r["dataset"] == ds]
            body.append(f'<div data-suite="{escape(a.name)}" data-dataset="{escape(ds)}"><h3>{escape(a.name)} / '
                        f"{escape(ds)}</h3>")
            body.append(f'<p class="note">Computed on: {escape("; ".join(f"{m} [{n} runs]" for m, n in d.machines))}'
                        + (" — mixed machines: not one arithmetic." if d.mixed_machines else "") + "</p>")
            if d.sequential:
                body.append(f'<p class="note">{_inline(sequential_line(d, a))}</p>')
            rows = []
            for v in a.order:
                s = d.variants.get(v)
                if s is None:
                    continue
                row = d.comparisons.get(v)
                outcome = row.outcome if row is not None else ("baseline" if v == a.baseline else "–")
                cells = [v, _num(100 * s.mean, 1) + ("num",), _num(100 * s.sd, 1) + ("num",)]
                rows.append(cells + [_num(100 * s.ece[0], 1) + ("num",), (outcome, None, outcome),
                                     _seed_ranges([k[0] for k in s.runs])])
            body.append(_table(["Variant", "Mean AUC %", "sd", "ECE %", "Verdict vs " + a.baseline, "Split seeds"], rows,
                               {"class": "variants", "data-suite": a.name, "data-dataset": ds}))
            rrows = [[r["variant"], _num(r["split_seed"], 0) + ("num",), _num(r["init_seed"], 0) + ("num",),
                      _num(r["auc"], 2) + ("num",), _num(r["ece"], 1) + ("num",), r["status"], r["machine"],
                      (Path(r["record"]).name, None, "", _rel(r["record"], base))] for r in here]
            body.append(f"<details><summary>{len(rrows)} runs, each linked to its record</summary>"
                        + _table(["Variant", "Split seed", "Init", "AUC %", "ECE %", "Status", "Machine", "Record"],
                                 rrows, {"class": "runs", "data-suite": a.name, "data-dataset": ds}) + "</details>")
            crows = [[c["variant"], _num(c["delta"], 2, True) + ("num",),
                      f"[{c['delta_lo']:+.2f}, {c['delta_hi']:+.2f}]", _num(c["p_adj"], 3) + ("num",),
                      _num(c["p_equiv_adj"], 3) + ("num",), (c["verdict"], None, c["verdict"]),
                      _num(c["mde"], 1) + ("num",), _num(c["paper_delta"], 2, True) + ("num",)]
                     for c in comps if c["suite"] == a.name and c["dataset"] == ds]
            if crows:
                body.append(_table(["Variant", "ΔAUC (points)", "CI (unadjusted)", f"p ({a.settings.correction})",
                                    f"p equivalence ±{a.settings.margin:g}", "Verdict", "MDE (points)",
                                    "Paper ΔAUC"], crows, {"class": "comparisons", "data-suite": a.name,
                                                           "data-dataset": ds}))
            if d.comparisons:
                body.append(f'<p class="note">{_inline(_power_line(d, a))}</p>')
                if submission_line(d, a):
                    body.append(f'<p class="note">{_inline(submission_line(d, a))}</p>')
            cam = figures.get(f"{a.name}/{ds}")
            if cam:
                body.append(f'<p><img src="{escape(cam)}" alt="Grad-CAM of {escape(a.name)} / {escape(ds)}"></p>')
            body.append("</div>")
        body.append(_markdown(_aa_section(a)))
        if len(a.order) >= 2:
            body.append(_markdown(["### Across data sets", "", _summary(a)]))
        body.append("</section>")
    if problems:
        body += ['<section id="not-used"><h2>Records not used</h2><p class="note">Files under the records folder that no '
                 "table above uses: unreadable, inconsistent with their own labels and scores, misfiled, or claiming a "
                 "run another file claims too.</p><ul>" + "".join(f"<li>{escape(p)}</li>" for p in problems)
                 + "</ul></section>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\">"
            f"<title>medattn-bench leaderboard</title><style>{CSS}</style><script>{JS}</script></head>\n<body>\n"
            + "\n".join(b for b in body if b) + "\n</body></html>\n")
