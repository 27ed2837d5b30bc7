"""A suite's cost table: parameters, MACs and the throughput measured beside the baseline."""

from __future__ import annotations

from tabulate import tabulate

from ..analysis import SuiteAnalysis


def _ratio(tp: dict, key: str) -> str:
    r = tp.get(f"{key}_ratio")
    if r is None:
        return "–"
    lo, hi = tp.get(f"{key}_ratio_min"), tp.get(f"{key}_ratio_max")
    return f"{r:.2f}×" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None and lo != hi else "")


def _cost_table(a: SuiteAnalysis) -> list[str]:
    costs, base = a.costs, a.costs.get(a.baseline)
    size = next((c["static"]["image_size"] for c in costs.values() if c), "?")
    tps = [c["throughput"] for c in costs.values() if c and "throughput" in c]
    where = {(t.get("device_name"), t.get("isa"), t.get("dtype"), t.get("batch_size"), t.get("image_size")) for t in tps}
    one_machine = len(where) == 1
    headers = ["Variant", "Params (M)", "ΔParams", f"GMACs @{size}px", "ΔGMACs %", "Attention share of MACs %",
               "GMACs @224px", f"Train speed vs {a.baseline} (median × [range over rounds])", "Infer speed",
               "Train img/s", "Infer img/s"] + ([] if one_machine else ["Measured on"])
    rows, marked, unpaired = [], False, False
    for v in a.order:
        c = costs.get(v)
        if not c:
            rows.append([v] + ["–"] * (len(headers) - 1))
            continue
        s, s224, tp = c["static"], c.get("static_224") or {}, c.get("throughput")
        dparams = s["params"] - base["static"]["params"] if base else float("nan")
        dmacs = 100 * (s["macs"] / base["static"]["macs"] - 1) if base else float("nan")
        mark = ""
        if tp and tp.get("contended"):
            mark, marked = " †", True
        if tp and tp.get("train_ratio") is None:
            unpaired = True
        row = [v + mark, f"{s['params'] / 1e6:.3f}", f"{dparams:+,}", f"{s['macs'] / 1e9:.4f}", f"{dmacs:+.2f}",
               f"{100 * s['macs_attention'] / s['macs']:.2f}", f"{s224['macs'] / 1e9:.3f}" if s224 else "–",
               _ratio(tp, "train") if tp else "–", _ratio(tp, "infer") if tp else "–",
               f"{tp['train_img_s']:.0f}" if tp else "–", f"{tp['infer_img_s']:.0f}" if tp else "–"]
        if not one_machine:
            row.append(f"{tp.get('device_name')} ({tp.get('isa') or 'instruction set not recorded'}, {tp.get('dtype')}, "
                       f"batch {tp.get('batch_size')}, {tp.get('image_size')} px)" if tp else "–")
        rows.append(row)
    out = []
    if tps and one_machine:
        t = tps[0]
        how = (f"each variant interleaved with `{a.baseline}` in one process; the ratio is the comparable figure, "
               "img/s depends on the machine and its load" if not unpaired else
               "each variant timed on its own, when its runs were trained")
        out += [f"Throughput measured on {t.get('device_name')} ({t.get('isa') or 'instruction set not recorded'}, "
                f"{t.get('dtype')}, batch {t.get('batch_size')}, {t.get('image_size')} px), {how}.", ""]
    out += [tabulate(rows, headers, tablefmt="github", disable_numparse=True), ""]
    if marked:
        out += ["† measured on a busy machine (the rounds' ratios spread by more than ±15 %, or the load average "
                "exceeded the measurement's threads): re-measure the suite's cost rows together on an idle machine "
                "with `medattn-bench profile --recost SUITE`.", ""]
    if unpaired:
        out += ["A ratio of – : measured before throughput was taken beside the baseline; `profile --recost` "
                "measures it.", ""]
    return out
