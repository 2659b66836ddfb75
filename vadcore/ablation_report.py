"""The consistency-loss study as a reader sees it: a Markdown report, a budgets table and a plot of paired
differences (see vadcore.ablation for the figures themselves)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vadcore.ablation import Budget, analyse, load_results

METRICS = (  # key, label, scale to show, unit
    ("accuracy", "accuracy", 100.0, "pt"),
    ("violation_rate", "violation rate", 100.0, "pt"),
    ("r_valence", "r valence", 1.0, ""),
    ("r_arousal", "r arousal", 1.0, ""),
    ("r_dominance", "r dominance", 1.0, ""),
    ("ccc_valence", "CCC valence", 1.0, ""),
    ("ccc_arousal", "CCC arousal", 1.0, ""),
    ("ccc_dominance", "CCC dominance", 1.0, ""),
)


def _interval(t: dict, scale: float, digits: int) -> str:
    mean = f"{t['mean'] * scale:.{digits}f}"
    if np.isnan(t["low"]):
        return mean
    return f"{mean} ({t['low'] * scale:.{digits}f} to {t['high'] * scale:.{digits}f})"


def _digits(scale: float) -> int:
    return 2 if scale == 100.0 else 3


def markdown_report(analysis: dict, budget: Budget, command: str) -> str:
    cells = analysis["cells"]
    baseline = analysis["baseline"]
    lines = [
        f"Budget per run: {budget.limit_train or 'all':,} Training faces × {budget.epochs} epochs, {budget.stem} "
        f"stem, one-cycle SGD to lr {budget.lr:g}, batch {budget.batch_size}, gradient norm clipped at 5. "
        "Accuracy and violation rate: deduplicated PrivateTest, single crop. r and CCC: the 31 human rows of "
        "vad_seed/public_test.csv. Means over seeds with 95% t intervals (n − 1 degrees of freedom).",
        f"Command: `{command}`",
        "",
        "### Each cell",
        "",
        "| cell | seeds | accuracy, % | violation rate, % | r V / A / D | CCC V / A / D "
        "| r V / A / D of the class-mean head |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, cell in cells.items():
        s, proto = cell["summary"], cell["prototype"]
        r = " / ".join(f"{s[k]['mean']:.3f}" for k in ("r_valence", "r_arousal", "r_dominance") if k in s)
        c = " / ".join(f"{s[k]['mean']:.3f}" for k in ("ccc_valence", "ccc_arousal", "ccc_dominance") if k in s)
        p = " / ".join(f"{v['mean']:.3f}" for v in proto.values())
        lines.append(
            f"| {name} | {len(cell['seeds'])} | {_interval(s['accuracy'], 100, 2)} | "
            f"{_interval(s['violation_rate'], 100, 2)} | {r} | {c} | {p} |"
        )
    for name, cell in cells.items():
        if "paired" not in cell:
            continue
        lines += [
            "",
            f"### {name} − {baseline}, paired by seed",
            "",
            "| metric | mean difference (95% t interval over seeds) | per seed |",
            "| --- | --- | --- |",
        ]
        for key, label, scale, unit in METRICS:
            if key not in cell["paired_summary"]:
                continue
            t = cell["paired_summary"][key]
            digits = _digits(scale)
            per_seed = ", ".join(
                f"{(p[key]['difference'] if key == 'accuracy' else p[key]) * scale:+.{digits}f}" for p in cell["paired"]
            )
            mean = f"{t['mean'] * scale:+.{digits}f}"
            interval = (
                "" if np.isnan(t["low"]) else f" ({t['low'] * scale:+.{digits}f} to {t['high'] * scale:+.{digits}f})"
            )
            lines.append(f"| {label}{', ' + unit if unit else ''} | {mean}{interval} | {per_seed} |")
        lines += ["", "McNemar per seed (same faces; b: only this cell right, c: only the baseline right):", ""]
        for p in cell["paired"]:
            a, m = p["accuracy"], p["accuracy"]["mcnemar"]
            lines.append(
                f"- seed {p['seed']}: {a['difference'] * 100:+.2f} pt "
                f"({a['difference_low'] * 100:+.2f} to {a['difference_high'] * 100:+.2f}, paired bootstrap over "
                f"{a['n']:,} faces), b = {m['b']}, c = {m['c']}, p = {m['p_exact']:.3f}"
            )
    if analysis["repeats"]:
        lines += ["", "### Reproducibility: the same cell and seed trained twice", ""]
        for r in analysis["repeats"]:
            gap = abs(r["accuracy_repeat"] - r["accuracy_first"]) * 100
            lines.append(
                f"- {r['cell']} seed {r['seed']}: {r['accuracy_first']:.2%} then {r['accuracy_repeat']:.2%} "
                f"(|Δ| {gap:.2f} pt; {r['verdicts_changed']} faces' verdicts changed)"
            )
    return "\n".join(lines)


def budgets_table(root: Path, baseline: str) -> str:
    """Mean accuracy of every cell at every budget under `root`: the learning curve the budget was chosen from."""
    lines = ["| budget | cell | seeds | accuracy, % |", "| --- | --- | --- | --- |"]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        results = load_results(folder)
        if not any(r["cell"] == baseline for r in results):
            cells = sorted({r["cell"] for r in results})
            for cell in cells:
                acc = [float(np.mean(r["correct"])) for r in results if r["cell"] == cell and not r["repeat"]]
                lines.append(f"| {folder.name} | {cell} | {len(acc)} | {100 * np.mean(acc):.2f} |")
            continue
        for cell, entry in analyse(results, baseline)["cells"].items():
            accuracy = _interval(entry["summary"]["accuracy"], 100, 2)
            lines.append(f"| {folder.name} | {cell} | {len(entry['seeds'])} | {accuracy} |")
    return "\n".join(lines)


def plot_paired_differences(analysis: dict, path: Path) -> None:
    """One panel per metric: each seed's paired difference from the baseline as a dot, the mean and its t interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compared = {name: c for name, c in analysis["cells"].items() if "paired" in c}
    keys = [m for m in METRICS[:5] if any(m[0] in c["paired_summary"] for c in compared.values())]
    if not compared or not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.2), squeeze=False)
    for ax, (key, label, scale, unit) in zip(axes[0], keys, strict=True):
        for i, cell in enumerate(compared.values()):
            values = [(p[key]["difference"] if key == "accuracy" else p[key]) * scale for p in cell["paired"]]
            t = cell["paired_summary"][key]
            ax.scatter([i] * len(values), values, s=14, alpha=0.6)
            if not np.isnan(t["low"]):
                ax.errorbar(
                    [i + 0.15],
                    [t["mean"] * scale],
                    yerr=[[(t["mean"] - t["low"]) * scale], [(t["high"] - t["mean"]) * scale]],
                    fmt="o",
                    color="black",
                    capsize=4,
                )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlim(-0.6, len(compared) - 0.4)
        ax.set_xticks(range(len(compared)), list(compared), rotation=20, fontsize=8)
        ax.set_title(f"{label}{' (' + unit + ')' if unit else ''}", fontsize=9)
    fig.suptitle(f"Paired difference from {analysis['baseline']}, per seed (dots) and mean with 95% t interval")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
