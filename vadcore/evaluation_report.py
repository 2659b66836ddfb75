"""The evaluation report as Markdown, and the model card's figures (models/<model>.json), from the report dict
that `vadcore.evaluate.evaluate` builds."""

from __future__ import annotations

from datetime import date

from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS

HEADLINE = ("PrivateTest", "ten_crop")  # the card's headline: deduplicated PrivateTest, ten-crop
VIEWS = ("single_crop", "ten_crop")


def card_figures(r: dict, measured_with: str) -> dict:
    """The figures of models/<model>.json: what the model card states and tests/test_shipped_model.py checks."""
    card: dict = {
        "model_version": r["model_version"],
        "measured_with": f"{measured_with}, {date.today().isoformat()}",
        "rules": r["rules"],
        "intervals": r["intervals"],
        "calibration": r["calibration"],
    }
    split, view = HEADLINE
    if split in r["splits"]:
        e = r["splits"][split][view]
        card["headline"] = {
            "split": split,
            "view": view,
            "deduplicated": True,
            "accuracy": round(e["deduplicated"]["accuracy"], 4),
            "interval": _rounded(e["deduplicated"]["accuracy_interval"]),
            "n": e["deduplicated"]["n"],
            "whole_split_accuracy": round(e["accuracy"], 4),
        }
    for name, e in r["splits"].items():
        single, ten = e["single_crop"], e["ten_crop"]
        card[name] = {
            "n": ten["n"],
            "single_crop_accuracy": round(single["accuracy"], 4),
            "single_crop_interval": _rounded(single["accuracy_interval"]),
            "ten_crop_accuracy": round(ten["accuracy"], 4),
            "ten_crop_interval": _rounded(ten["accuracy_interval"]),
            "ten_crop_recall": {c: round(v, 4) for c, v in ten["recall"].items()},
            "ten_crop_violation_rate": round(ten["consistency_violation_rate"]["any"], 4),
            "ten_crop_confusion_matrix": ten["confusion_matrix"],
            "deduplicated": {
                **e["deduplication"],
                "single_crop_accuracy": round(single["deduplicated"]["accuracy"], 4),
                "single_crop_interval": _rounded(single["deduplicated"]["accuracy_interval"]),
                "ten_crop_accuracy": round(ten["deduplicated"]["accuracy"], 4),
                "ten_crop_interval": _rounded(ten["deduplicated"]["accuracy_interval"]),
                "ten_crop_recall": {c: round(v, 4) for c, v in ten["deduplicated"]["recall"].items()},
            },
            "ten_crop_calibration": {k: round(v, 4) for k, v in ten["calibration"].items() if not isinstance(v, dict)},
        }
    if "human_vad_public_test" in r:
        h = r["human_vad_public_test"]
        ten = h["ten_crop"]
        card["human_vad_public_test_ten_crop"] = {
            d: {
                "rmse": round(ten[d]["rmse"], 4),
                "pearson": round(ten[d]["pearson"], 4),
                "pearson_interval": _rounded(ten[d]["pearson_interval"]),
                "ccc": round(ten[d]["ccc"], 4),
                "paper_average_loss": round(ten[d]["paper_average_loss"], 4),
            }
            for d in VAD_DIMS
        } | {"n": ten["n"], "training_twins": h["training_twins"]}
    return card


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 4) for v in values]


def _pct(value: float, interval: list[float]) -> str:
    return f"{value:.2%} ({interval[0]:.1%}–{interval[1]:.1%})"


def markdown_report(r: dict) -> str:
    cal = r["calibration"]
    lines = [
        f"Model `{r['model_version']}`, sign rules `{r['rules']}`, VAD on {r['vad_scale']}.",
        f"Intervals: {r['intervals']}.",
        "",
        "Accuracy, whole split and without duplicates of Training faces:",
        "",
        "| split | faces | single crop | ten-crop | violation rate (ten-crop) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for split, e in r["splits"].items():
        single, ten, dd = e["single_crop"], e["ten_crop"], e["deduplication"]
        lines.append(
            f"| {split}, whole | {ten['n']} | {_pct(single['accuracy'], single['accuracy_interval'])} | "
            f"{_pct(ten['accuracy'], ten['accuracy_interval'])} | {ten['consistency_violation_rate']['any']:.2%} |"
        )
        sd, td = single["deduplicated"], ten["deduplicated"]
        lines.append(
            f"| {split}, deduplicated | {dd['kept']} | {_pct(sd['accuracy'], sd['accuracy_interval'])} | "
            f"{_pct(td['accuracy'], td['accuracy_interval'])} | |"
        )
    lines.append("")
    for e in r["splits"].values():
        dd = e["deduplication"]
        lines.append(
            f"- {dd['rule']}: {dd['exact']} exact and {dd['near']} near duplicates of {dd['n']}; {dd['kept']} kept."
        )
    lines += [
        "",
        "Per-class recall, ten-crop, deduplicated (whole split in brackets):",
        "",
        "| split | " + " | ".join(CLASS_NAMES) + " |",
        "| --- |" + " --- |" * len(CLASS_NAMES),
    ]
    for split, e in r["splits"].items():
        ten = e["ten_crop"]
        cells = [f"{ten['deduplicated']['recall'][c]:.1%} ({ten['recall'][c]:.1%})" for c in CLASS_NAMES]
        lines.append(f"| {split} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Calibration: temperature T = {cal['temperature']:.3f}, {cal['source']}. Expected calibration error "
        f"({cal['ece_bins']} equal-width bins of top-class probability), raw softmax → divided by T:",
        "",
        "| split | view | ECE whole | ECE deduplicated | NLL whole |",
        "| --- | --- | --- | --- | --- |",
    ]
    for split, e in r["splits"].items():
        for view in VIEWS:
            c = e[view]["calibration"]
            cd = c["deduplicated"]
            lines.append(
                f"| {split} | {view.replace('_', ' ')} | {c['ece_before']:.2%} → {c['ece_after']:.2%} | "
                f"{cd['ece_before']:.2%} → {cd['ece_after']:.2%} | {c['nll_before']:.3f} → {c['nll_after']:.3f} |"
            )
    lines += [
        "",
        f"Accuracies are read at T = {r['reading_temperature']:g}, the checkpoint's own, as the app reads it "
        "(ten-crop averages the views' probabilities, so T can move a ten-crop reading; never a single crop's).",
    ]
    if "human_vad_public_test" in r:
        h = r["human_vad_public_test"]
        ten = h["ten_crop"]
        lines += [
            "",
            f"Against the human VAD labels of vad_seed/public_test.csv (n={ten['n']}, never trained on¹), ten-crop:",
            "",
            "| dim | RMSE (−1…+1) | Pearson r (95% interval) | CCC | paper average loss (−2…+2, batch 16) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for d in VAD_DIMS:
            m = ten[d]
            lo, hi = m["pearson_interval"]
            lines.append(
                f"| {d} | {m['rmse']:.3f} | {m['pearson']:.3f} ({lo:.2f}–{hi:.2f}) | {m['ccc']:.3f} | "
                f"{m['paper_average_loss']:.4f} |"
            )
        lines += [
            "",
            f"¹ {h['training_twins']} of these {ten['n']} faces have a pixel-identical twin among the Training faces "
            "(the network may have seen the face, with its class label, though never its human VAD label).",
        ]
    for split, e in r["splits"].items():
        if "vad_all" not in e["ten_crop"]:
            continue
        lines += [
            "",
            f"{split}, ten-crop, against the training-style VAD targets (derived; human labels only on "
            "twins of labelled faces):",
            "",
            "| dim | RMSE | Pearson r | CCC |",
            "| --- | --- | --- | --- |",
        ]
        for d in VAD_DIMS:
            m = e["ten_crop"]["vad_all"][d]
            lines.append(f"| {d} | {m['rmse']:.3f} | {m['pearson']:.3f} | {m['ccc']:.3f} |")
    if "compare" in r:
        c = r["compare"]
        lines += [
            "",
            f"Paired comparison, ten-crop: this model (a) against `{c['model_version']}` (b), same faces:",
            "",
            "| split | faces | a | b | a − b (95% interval) | discordant a-only / b-only | McNemar p exact / mid-p |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for split, both in c["splits"].items():
            for which, p in both.items():
                mc = p["mcnemar"]
                lines.append(
                    f"| {split}, {which} | {p['n']} | {p['accuracy_a']:.2%} | {p['accuracy_b']:.2%} | "
                    f"{p['difference']:+.2%} ({p['difference_low']:+.2%}…{p['difference_high']:+.2%}) | "
                    f"{mc['b']} / {mc['c']} | {mc['p_exact']:.3g} / {mc['p_mid']:.3g} |"
                )
    return "\n".join(lines) + "\n"
