"""The report as one static HTML page, scripts and data inlined (it opens with no
network), and each chart as an SVG file rendered offline by vl-convert."""

from __future__ import annotations

import functools
import html
import json
import os
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert

from grouprebate.report.charts import Section
from grouprebate.report.data import ReportData

# The Vega-Lite version of Altair's schema ("v6.4.1" -> "6.4"), which vl-convert bundles.
VL_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
HEADLINE_LABELS = {
    "attributed_sales": ("Attributed sales", "fen"), "pools": ("Pools", "fen"),
    "eligible_pools": ("Eligible pools", "fen"), "red_packets": ("Red packets", "fen"),
    "paid": ("Paid", "fen"), "forfeited": ("Forfeited", "fen"),
    "conversion": ("Share-to-purchase conversion", "ratio"),
    "claim_rate": ("Claim rate (parts claimed / allocated)", "ratio"),
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.reading { font-style: italic; } .not-yet { color: #777; }
section { margin: 2.5em 0; }
"""


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (vl-convert bundles them offline)."""
    return vl_convert.javascript_bundle(vl_version=VL_VERSION)


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, sort_keys=True).replace("</", "<\\/")


def _number(value: Any, unit: str, has_drawn: bool) -> str:
    """A metric with no rows to sum is "not yet" before the draw (or for a ratio of
    nothing), and 0 fen after it."""
    if value is None:
        return "0 fen" if has_drawn and unit == "fen" else "not yet"
    return f"{float(value):.2%}" if unit == "ratio" else f"{int(value):,} fen"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: ReportData, sections: list[Section], chart_dir: str) -> str:
    """The page; `chart_dir` is the SVG files' folder relative to the page."""
    stage = "after the draw" if data.has_drawn else f"before the draw on {data.draw_date}"
    headline = _table(["metric (dbt semantic layer)", "value"], [
        [label, _number(data.headline.get(name), unit, data.has_drawn)]
        for name, (label, unit) in HEADLINE_LABELS.items()])
    parts, embeds = [], []
    for section in sections:
        body = f'<p class="reading">{html.escape(section.reading)}</p>'
        if section.chart is None:
            body += '<p class="not-yet">Not yet.</p>'
        else:
            body += (f'<div class="chart" id="chart-{section.name}"></div>'
                     f'<p><a href="{html.escape(chart_dir)}/{section.name}.svg">SVG</a></p>')
            embeds.append(f"embed('#chart-{section.name}', "
                          f"{_script_json(section.chart.to_dict())});")
        if section.name == "leaderboard":
            body += _table(["rank", "sharer (pseudonym)", "attributed sales (fen)", "orders",
                            "converted shares", "groups"],
                           [[r["rank"], r["sharer"], f"{r['attributed_sales_fen']:,}",
                             r["attributed_orders"], r["converted_shares"], r["groups"]]
                            for r in data.leaderboard])
        parts.append(f'<section id="{section.name}"><h2>{html.escape(section.title)}</h2>'
                     f"{body}</section>")
    title = f"Campaign report {data.campaign_id}, {data.ds}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script>{vega_bundle()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">The marts as of run date {data.ds}, {html.escape(stage)}. Money in fen.
Sharers and groups appear as keyed pseudonyms (HMAC), never by id.</p>
<h2>Headline</h2>
{headline}
{"".join(parts)}
<script>
function embed(target, spec) {{
  vegaEmbed(target, spec, {{renderer: "svg", actions: false}}).catch(console.error);
}}
{chr(10).join(embeds)}
</script>
</body>
</html>
"""


def _write(path: Path, text: str) -> None:
    """Replace the file whole: a reader never sees half a report."""
    part = path.with_name(f".{path.name}.part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def write_report(data: ReportData, sections: list[Section], reports: Path) -> Path:
    """reports/campaign-report-<ds>.html and reports/charts-<ds>/<chart>.svg; a re-run of
    the date overwrites them with the same bytes."""
    chart_dir = f"charts-{data.ds}"
    (reports / chart_dir).mkdir(parents=True, exist_ok=True)
    for section in sections:
        if section.chart is not None:
            _write(reports / chart_dir / f"{section.name}.svg",
                   vl_convert.vegalite_to_svg(section.chart.to_dict(), vl_version=VL_VERSION))
    page = reports / f"campaign-report-{data.ds}.html"
    _write(page, render_html(data, sections, chart_dir))
    return page
