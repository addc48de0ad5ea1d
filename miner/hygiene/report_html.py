"""`miner stats --html`: the StatsReport as one self-contained HTML file.

    StatsReport -> matplotlib charts (PNG, base64 data: URIs) + tables -> report.html

Everything is inline (styles, images); a Content-Security-Policy forbids loading anything
else, so the file opens offline and never calls out. Every piece of dataset text (phrases,
system prompts, sources) is HTML-escaped. matplotlib is imported lazily: it is only needed for
this report (pip install "miner[report]").
"""
from __future__ import annotations

import base64
import html
import io

from miner.errors import ConfigError
from miner.hygiene.stats import StatsReport
from miner.output import AtomicFile

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%} td,th{padding:.3em .5em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n{text-align:right;white-space:nowrap} .warn{background:#fff6dd;border-left:4px solid #e0a800;padding:.5em .8em;margin:.4em 0}
.ok{background:#e9f7ef;border-left:4px solid #2e9d5b;padding:.5em .8em} img{max-width:100%} .muted{color:#777}
.kpi{display:inline-block;margin:0 2em .5em 0} .kpi b{display:block;font-size:1.4em}
"""


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the HTML report needs matplotlib: pip install \"miner[report]\" "
                          "(or pip install matplotlib), or use --json") from None
    return Figure, FigureCanvasAgg


def _png(fig, canvas_cls) -> str:
    buf = io.BytesIO()
    canvas_cls(fig).print_png(buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def charts(report: StatsReport) -> dict[str, str]:
    """Chart name -> data: URI of a PNG. Pure apart from matplotlib; no global pyplot state."""
    Figure, Canvas = _matplotlib()
    out: dict[str, str] = {}
    hist = report.histogram(bins=20)
    if hist:
        fig = Figure(figsize=(8, 3), dpi=100, layout="tight")
        ax = fig.add_subplot()
        ax.bar([(lo + hi) / 2 for lo, hi, _ in hist], [n for *_, n in hist],
               width=max(1, hist[0][1] - hist[0][0] + 1) * 0.9, color="#4c72b0")
        if report.token_limit and report.token_limit <= hist[-1][1] * 1.2:
            ax.axvline(report.token_limit, color="#c44e52", linestyle="--", label="limit")
            ax.legend()
        ax.set_xlabel("tokens per example")
        ax.set_ylabel("examples")
        out["tokens"] = _png(fig, Canvas)
    if report.turns:
        fig = Figure(figsize=(8, 2.6), dpi=100, layout="tight")
        ax = fig.add_subplot()
        keys = sorted(report.turns)
        ax.bar([str(k) for k in keys], [report.turns[k] for k in keys], color="#55a868")
        ax.set_xlabel("user + assistant turns per example")
        ax.set_ylabel("examples")
        out["turns"] = _png(fig, Canvas)
    if report.phrases:
        top = report.phrases[:12][::-1]
        fig = Figure(figsize=(8, 0.45 * len(top) + 1), dpi=100, layout="tight")
        ax = fig.add_subplot()
        colors = ["#c44e52" if p.share > report.phrase_threshold else "#8172b2" for p in top]
        ax.barh([p.text[:40] for p in top], [100 * p.share for p in top], color=colors)
        ax.axvline(100 * report.phrase_threshold, color="#999", linestyle=":")
        ax.set_xlabel("% of examples containing the phrase")
        out["phrases"] = _png(fig, Canvas)
    if len(report.sources) > 1:
        src = report.sources.most_common(12)[::-1]
        fig = Figure(figsize=(8, 0.45 * len(src) + 1), dpi=100, layout="tight")
        ax = fig.add_subplot()
        ax.barh([s[-40:] for s, _ in src], [n for _, n in src], color="#dd8452")
        ax.set_xlabel("examples")
        out["sources"] = _png(fig, Canvas)
    return out


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _img(uri: str | None, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">' if uri else ""


def render_html(report: StatsReport) -> str:
    imgs = charts(report)
    t = report.token_summary()
    d = report.to_dict()
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>miner stats - {_e(report.path)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Dataset report: {_e(report.path)}</h1>",
        f'<p class="muted">format {_e(report.format or "unknown")} - made by miner stats</p>',
        '<div>' + "".join(f'<span class="kpi"><b>{_e(v)}</b>{_e(k)}</span>' for k, v in (
            ("examples", f"{report.examples:,}"), ("median tokens", f"{t['median'] or 0:,}"),
            ("p95 tokens", f"{t['p95'] or 0:,}"), ("near-duplicates", f"{report.near_duplicate_examples():,}"),
            ("refusals", f"{report.refusals:,}"))) + "</div>",
        "<h2>Warnings</h2>",
    ]
    if report.warnings:
        parts += [f'<div class="warn">{_e(w["message"])}</div>' for w in report.warnings]
    else:
        parts.append('<div class="ok">No warnings.</div>')
    parts += ["<h2>Length</h2>",
              f"<p>min {t['min'] or 0:,} · median {t['median'] or 0:,} · p95 {t['p95'] or 0:,} · max {t['max'] or 0:,} "
              f"tokens per example; {t['total'] or 0:,} in total"
              + (f"; {report.too_long:,} over the {report.token_limit:,}-token limit" if report.too_long else "") + ".</p>",
              _img(imgs.get("tokens"), "histogram of tokens per example"), _img(imgs.get("turns"), "turns per example")]
    parts.append("<h2>Over-represented phrases</h2>")
    if report.phrases:
        parts.append("<p>Phrases in many examples, far more often than their words would appear together by chance. "
                     "A fine-tune learns them as habits.</p>" + _img(imgs.get("phrases"), "phrase shares"))
        parts.append("<table><tr><th>phrase</th><th>examples</th><th>share</th><th>e.g. lines</th></tr>" + "".join(
            f"<tr><td>{_e(p.text)}</td><td class=n>{p.examples:,}</td><td class=n>{p.share:.0%}</td>"
            f"<td>{_e(', '.join(map(str, p.lines)))}</td></tr>" for p in report.phrases) + "</table>")
    else:
        parts.append("<p>None found.</p>")
    parts.append(f"<h2>Near-duplicates (similarity ≥ {report.dup_threshold})</h2>")
    if report.clusters:
        parts.append("<table><tr><th>group</th><th>lines</th></tr>" + "".join(
            f"<tr><td class=n>{i}</td><td>{_e(', '.join(map(str, c[:30])))}{' …' if len(c) > 30 else ''}</td></tr>"
            for i, c in enumerate(report.clusters[:50], 1)) + "</table>")
    else:
        parts.append("<p>None found.</p>")
    parts.append("<h2>System prompts</h2>")
    if report.system_prompts:
        rows = [(n, text) for text, n in report.system_prompts.most_common(10)]
        if report.no_system:
            rows.append((report.no_system, "(no system prompt)"))
        parts.append("<table>" + "".join(f"<tr><td class=n>{n:,}</td><td>{_e(text)}</td></tr>" for n, text in rows)
                     + "</table>")
    else:
        parts.append("<p>No example has a system prompt.</p>")
    pd = d["prompt_diversity"]
    parts.append("<h2>Prompt variety</h2>")
    if pd["distinct_2"] is not None:
        parts.append(f"<p>Distinct word pairs across prompts: {pd['distinct_2']:.0%} (higher is more varied). "
                     f"Mean word overlap between two prompts: {(pd['mean_pairwise_similarity'] or 0):.0%} "
                     "(lower is more varied).</p>")
        parts.append("<table><tr><th>prompts opening with</th><th>examples</th></tr>" + "".join(
            f"<tr><td>{_e(o['words'])}</td><td class=n>{o['examples']:,}</td></tr>" for o in pd["top_openings"][:8])
            + "</table>")
    else:
        parts.append("<p>No user prompts.</p>")
    if report.sources:
        parts.append("<h2>Sources</h2>" + _img(imgs.get("sources"), "examples per source") + "<table>" + "".join(
            f"<tr><td class=n>{n:,}</td><td>{_e(s)}</td></tr>" for s, n in report.sources.most_common(20)) + "</table>")
    if report.bad_lines:
        parts.append("<h2>Lines that are not examples</h2><table>" + "".join(
            f"<tr><td>{_e(k)}</td><td class=n>{v:,}</td><td>lines {_e(', '.join(map(str, report.bad_examples.get(k, []))))}</td></tr>"
            for k, v in report.bad_lines.items()) + "</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: StatsReport, path: str, force: bool = False) -> None:
    text = render_html(report)
    with AtomicFile(path, force=force) as f:
        f.write(text.encode("utf-8"))
