"""Records -> markdown. ``render`` is a pure function: the same records give the same board
(the bootstrap seed is a stored suite setting), so CI can check the committed board."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from tabulate import tabulate

from .errors import RecordError
from .stats import Comparison, PairedRun, adjust_pvalues, paired_comparison, rank_variants

Grouped = dict[str, dict[str, dict[str, dict[int, dict[str, Any]]]]]  # suite/dataset/variant/seed


def group(records: list[dict[str, Any]]) -> Grouped:
    out: Grouped = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in records:
        run = r["run"]
        out[r["suite"]["name"]][run["dataset"]][run["variant"]][int(run["seed"])] = r
    return out


def paired_runs(a: dict[int, dict], b: dict[int, dict], where: str) -> tuple[list[PairedRun], list[int]]:
    """Seeds where both variants succeeded, checked to hold the same test cases in the same order."""
    runs, seeds = [], []
    for seed in sorted(set(a) & set(b)):
        ra, rb = a[seed], b[seed]
        if ra["status"] != "ok" or rb["status"] != "ok":
            continue
        if ra["test"]["ids"] != rb["test"]["ids"]:
            raise RecordError(f"{where}, seed {seed}: the two runs were tested on different cases "
                              f"({ra['_path'] if '_path' in ra else ''} vs {rb.get('_path', '')}); "
                              "records from different splits cannot be paired")
        runs.append(PairedRun.checked(ra["test"]["labels"], ra["test"]["scores"], rb["test"]["scores"]))
        seeds.append(seed)
    return runs, seeds


def compare(a: dict[int, dict], b: dict[int, dict], settings: dict[str, Any], where: str) -> Comparison | None:
    runs, _ = paired_runs(a, b, where)
    if not runs:
        return None
    return paired_comparison(runs, n_resamples=settings.get("n_resamples", 2000), level=settings.get("ci_level", 0.95),
                             method=settings.get("ci_method", "bca"), seed=settings.get("seed", 0),
                             hierarchical=settings.get("hierarchical", False))


@dataclass
class Row:
    dataset: str
    variant: str
    comparison: Comparison | None
    p_adj: float = float("nan")
    mixed: bool = False


def _ok(runs: dict[int, dict]) -> list[dict]:
    return [r for _, r in sorted(runs.items()) if r["status"] == "ok"]


def _mean_sd(runs: dict[int, dict]) -> tuple[float, float]:
    aucs = [r["metrics"]["auc"] for r in _ok(runs)]
    if not aucs:
        return float("nan"), float("nan")
    return statistics.fmean(aucs), (statistics.stdev(aucs) if len(aucs) > 1 else float("nan"))


def _pct(x: float, digits: int = 1) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}"


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _suite_analysis(datasets: dict[str, dict[str, dict[int, dict]]], allow_mixed: bool) -> tuple[list[Row], dict, str]:
    any_rec = next(r for ds in datasets.values() for v in ds.values() for r in v.values())
    settings = any_rec.get("stats_settings", {})
    baseline = settings.get("baseline", "none")
    correction = settings.get("correction", "holm")
    rows: list[Row] = []
    for ds_name, variants in sorted(datasets.items()):
        base = variants.get(baseline, {})
        ref_protocol = Counter(r.get("protocol_hash") for r in base.values()).most_common(1)
        ref = ref_protocol[0][0] if ref_protocol else None
        ref_seeds = set(base)
        for v, runs in variants.items():
            mixed = any(r.get("protocol_hash") != ref for r in runs.values()) or set(runs) != ref_seeds
            if v == baseline:
                continue
            comp = None
            if base and (allow_mixed or not mixed):
                comp = compare(runs, base, settings, f"{ds_name}: {v} vs {baseline}")
            rows.append(Row(ds_name, v, comp, mixed=mixed))
    p = adjust_pvalues([r.comparison.p_bootstrap if r.comparison else np.nan for r in rows], correction)
    for r, q in zip(rows, p):
        r.p_adj = float(q)
    return rows, settings, baseline


def _variant_order(datasets: dict[str, dict[str, dict]], baseline: str) -> list[str]:
    seen: dict[str, None] = {}
    for variants in datasets.values():
        for v in variants:
            seen.setdefault(v)
    return [baseline] + sorted(v for v in seen if v != baseline) if baseline in seen else sorted(seen)


def _cost_of(datasets: dict[str, dict[str, dict[int, dict]]], variant: str) -> dict | None:
    recs = [r for ds in datasets.values() for r in ds.get(variant, {}).values() if r.get("cost")]
    if not recs:
        return None
    c = recs[0]["cost"]
    tps = [r["cost"]["throughput"] for r in recs if "throughput" in r["cost"]]
    out = {"static": c["static"], "static_224": c.get("static_224")}
    if tps:
        out["throughput"] = {**tps[0], "train_img_s": statistics.median(t["train_img_s"] for t in tps),
                             "infer_img_s": statistics.median(t["infer_img_s"] for t in tps)}
    return out


def _provenance(datasets: dict[str, dict[str, dict[int, dict]]]) -> list[str]:
    recs = [r for ds in datasets.values() for v in ds.values() for r in v.values()]
    machines = Counter()
    for r in recs:
        d = r["env"]["device"]
        machines[f"{d['name']} ({d['device']}, {d['dtype']}, {d['threads']} threads), torch {d['torch_version']}"] += 1
    dates = sorted(r["time"]["finished"][:10] for r in recs)
    commits = sorted({(r["env"]["git"].get("commit") or "unknown")[:10] for r in recs})
    files = sorted({r["suite"]["file"] for r in recs})
    failed = sum(r["status"] != "ok" for r in recs)
    return [f"- Suite file: {', '.join(f'`{f}`' for f in files)}; {len(recs)} runs ({failed} failed)",
            f"- Machine: {'; '.join(f'{m} [{n} runs]' for m, n in machines.most_common())}",
            f"- Records dated {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "")
            + f"; code {', '.join(commits)}"]


def _cost_table(datasets: dict, order: list[str], baseline: str) -> str:
    costs = {v: _cost_of(datasets, v) for v in order}
    base = costs.get(baseline)
    tp_any = next((c["throughput"] for c in costs.values() if c and "throughput" in c), None)
    size = next(c["static"]["image_size"] for c in costs.values() if c)
    dev = f"{tp_any['device']}, {tp_any['dtype']}, batch {tp_any['batch_size']}, {tp_any['image_size']} px" if tp_any else ""
    headers = ["Variant", "Params (M)", "ΔParams", f"GMACs @{size}px", "ΔGMACs %", "Attention share of MACs %",
               "GMACs @224px", f"Train img/s ({dev})", "Infer img/s"]
    rows = []
    for v in order:
        c = costs[v]
        if not c:
            rows.append([v] + ["–"] * (len(headers) - 1))
            continue
        s, s224, tp = c["static"], c.get("static_224") or {}, c.get("throughput")
        dparams = s["params"] - base["static"]["params"] if base else float("nan")
        dmacs = 100 * (s["macs"] / base["static"]["macs"] - 1) if base else float("nan")
        rows.append([v, f"{s['params'] / 1e6:.3f}", f"{dparams:+,}", f"{s['macs'] / 1e9:.4f}", f"{dmacs:+.2f}",
                     f"{100 * s['macs_attention'] / s['macs']:.2f}",
                     f"{s224['macs'] / 1e9:.3f}" if s224 else "–",
                     f"{tp['train_img_s']:.0f}" if tp else "–", f"{tp['infer_img_s']:.0f}" if tp else "–"])
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def _dataset_table(name: str, variants: dict, order: list[str], rows: dict[str, Row], baseline: str,
                   settings: dict) -> str:
    seeds = sorted({s for v in variants.values() for s in v})
    level = int(round(100 * settings.get("ci_level", 0.95)))
    means = {v: _mean_sd(variants[v])[0] for v in order if v in variants}
    best = max((m for m in means.values() if np.isfinite(m)), default=None)
    headers = (["Variant"] + [f"Seed {s} AUC % [{level}% CI]" for s in seeds] + ["Mean ± sd"]
               + [f"ΔAUC vs {baseline} [{level}% CI]", f"p ({settings.get('correction', 'holm')})", "Params (M)", "GMACs"])
    table = []
    for v in order:
        if v not in variants:
            continue
        runs = variants[v]
        cells = []
        for s in seeds:
            r = runs.get(s)
            if r is None:
                cells.append("–")
            elif r["status"] != "ok":
                cells.append("failed")
            else:
                ci = r["metrics"]["auc_ci_delong"]
                cells.append(f"{_pct(ci['auc'])} [{_pct(ci['lo'])}, {_pct(ci['hi'])}]")
        m, sd = _mean_sd(runs)
        mean = f"{_pct(m)} ± {_pct(sd)}"
        if best is not None and m == best:
            mean = f"**{mean}**"
        row = rows.get(v)
        if v == baseline:
            delta, p = "(baseline)", ""
        elif row is None or row.comparison is None:
            delta, p = ("not ranked: protocol differs (use --allow-mixed)" if row and row.mixed else "–"), "–"
        else:
            c = row.comparison
            delta = f"{100 * c.delta:+.2f} [{100 * c.ci_lo:+.2f}, {100 * c.ci_hi:+.2f}]"
            p = _fmt_p(row.p_adj) + (" *" if row.p_adj < 0.05 else "")
        if row is not None and row.mixed:
            v_name = f"{v} ≠"
        else:
            v_name = v
        cost = _cost_of({name: variants}, v)
        params = f"{cost['static']['params'] / 1e6:.3f}" if cost else "–"
        macs = f"{cost['static']['macs'] / 1e9:.4f}" if cost else "–"
        table.append([v_name] + cells + [mean, delta, p, params, macs])
    return tabulate(table, headers, tablefmt="github", disable_numparse=True)


def _cd_diagram(ranks: dict[str, float], cd: float, k: int) -> str:
    width = 40
    pos = lambda r: round((r - 1) / max(k - 1, 1) * width)  # noqa: E731
    lines = ["rank " + "".join(str(i).ljust(width // max(k - 1, 1)) for i in range(1, k + 1)).rstrip()]
    lines.append("     " + "|" + "-" * (width - 1) + "|")
    if np.isfinite(cd):
        n = min(width + 1, round(cd / max(k - 1, 1) * width))
        lines.append("CD   " + "<" + "=" * max(n - 2, 0) + ">" + f"  {cd:.2f}")
    for v, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        lines.append("     " + " " * pos(r) + f"● {v} ({r:.2f})")
    return "```\n" + "\n".join(lines) + "\n```"


def _summary(datasets: dict, order: list[str], rows: list[Row], allow_mixed: bool) -> str:
    names = sorted(datasets)
    mixed = {(r.dataset, r.variant) for r in rows if r.mixed}
    table: dict[str, dict[str, float]] = {}
    for v in order:
        for d in names:
            if v in datasets[d] and (allow_mixed or (d, v) not in mixed):
                m = _mean_sd(datasets[d][v])[0]
                if np.isfinite(m):
                    table.setdefault(v, {})[d] = m
    ranked = {v: t for v, t in table.items() if set(t) == set(names)}
    rs = rank_variants(ranked)
    rank_of = dict(zip(rs.variants, rs.mean_ranks))
    out = [[v] + [_pct(table.get(v, {}).get(d, float("nan"))) for d in names]
           + [f"{rank_of[v]:.2f}" if v in rank_of else "–"] for v in order]
    text = [tabulate(out, ["Variant"] + [f"{d} mean AUC %" for d in names] + ["Mean rank (1 = best)"],
                     tablefmt="github", disable_numparse=True), ""]
    if len(rs.variants) >= 3 and rs.n_datasets >= 2:
        text.append(f"Friedman χ² = {rs.friedman_stat:.2f} (p = {_fmt_p(rs.friedman_p)}) over {rs.n_datasets} data "
                    f"sets; Nemenyi critical difference at α = 0.05: {rs.critical_difference:.2f} ranks.")
        text.append("")
        text.append(_cd_diagram(rank_of, rs.critical_difference, len(rs.variants)))
        text.append("")
    if rs.n_datasets == 1:
        text.append("One data set: the rank is the order of mean AUCs; the test that decides is the paired comparison "
                    "above, Holm-adjusted across the suite.")
    else:
        text.append(f"Ranks across data sets are descriptive. With {rs.n_datasets} data sets a Wilcoxon signed-rank "
                    f"test cannot reach p < 0.05 (its smallest two-sided p is {2 / 2 ** rs.n_datasets:.3f}); the tests "
                    "that decide are the paired within-data-set comparisons above, Holm-adjusted across the suite.")
    return "\n".join(text)


def render(records: list[dict[str, Any]], problems: list[str] | tuple[str, ...] = (), allow_mixed: bool = False) -> str:
    """The leaderboard markdown for ``records`` (pure; deterministic)."""
    lines = ["# medattn-bench leaderboard", "",
             "Rendered by `medattn-bench leaderboard` from the run records under `leaderboard/records/`; "
             "do not edit by hand. AUC cells: AUC-ROC in % with the DeLong 95 % CI. ΔAUC: paired, stratified "
             "bootstrap over test cases, averaged over seeds, with the CI method named per suite; p: bootstrap "
             "test (as pROC `roc.test`), adjusted across all comparisons of the suite; `*` marks adjusted "
             "p < 0.05; `≠` marks a row whose protocol differs from its baseline's. GMACs: multiply-accumulates "
             "counted by fvcore with element-wise handlers.", ""]
    grouped = group(records)
    if not grouped:
        lines.append("No records yet: run `medattn-bench run suites/demo.yaml`.")
    for suite_name in sorted(grouped):
        datasets = grouped[suite_name]
        rows, settings, baseline = _suite_analysis(datasets, allow_mixed)
        order = _variant_order(datasets, baseline)
        any_rec = next(r for ds in datasets.values() for v in ds.values() for r in v.values())
        ci_method = next((r.comparison.ci_method for r in rows if r.comparison), settings.get("ci_method", "bca"))
        lines += [f"## Suite `{suite_name}`", ""]
        if any_rec["suite"].get("description"):
            lines += [any_rec["suite"]["description"].strip(), ""]
        lines += _provenance(datasets)
        lines += [f"- Statistics: {settings.get('n_resamples')} paired bootstrap resamples ({ci_method} CI, "
                  f"seed {settings.get('seed')}), {settings.get('correction')} correction over "
                  f"{sum(r.comparison is not None for r in rows)} "
                  f"comparisons with baseline `{baseline}`", ""]
        lines += ["### Cost", "", _cost_table(datasets, order, baseline), ""]
        by_ds: dict[str, dict[str, Row]] = defaultdict(dict)
        for r in rows:
            by_ds[r.dataset][r.variant] = r
        for ds_name in sorted(datasets):
            lines += [f"### {ds_name}", "", _dataset_table(ds_name, datasets[ds_name], order, by_ds[ds_name], baseline,
                                                            settings), ""]
        lines += ["### Across data sets", "", _summary(datasets, order, rows, allow_mixed), ""]
    if problems:
        lines += ["## Skipped records", ""] + [f"- {p}" for p in problems] + [""]
    return "\n".join(lines).rstrip() + "\n"
