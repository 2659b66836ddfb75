"""Plotly figures of readings in V–A–D space. Every axis is titled, with the scale it is on."""

from __future__ import annotations

import html
from datetime import tzinfo

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.local_time import in_zone, zone_name
from vadcore.features import AlertRule
from vadcore.taxonomy import CLASS_COLOURS, CLASS_NAMES, RUSSELL_MEHRABIAN_PAD, VAD_DIMS, VAD_MAX, VAD_MIN

AXIS_RANGE = [VAD_MIN - 0.05, VAD_MAX + 0.05]
AXIS_TITLES = {
    "valence": "Valence (−1 … +1)",
    "arousal": "Arousal (−1 … +1)",
    "dominance": "Dominance, experimental (−1 … +1)",  # vadcore.taxonomy.DOMINANCE_HELP says why
}
DIM_COLOURS = {"valence": "#0072B2", "arousal": "#D55E00", "dominance": "#009E73"}
PROTOTYPE_NAME = "class prototypes (R&M 1977 PAD)"
# The anchors drawn in V–A–D space. Checkpoints do not carry the calibrated prior they were trained on,
# so the figures show the published Russell & Mehrabian prototypes and say so in the legend.
PROTOTYPES = RUSSELL_MEHRABIAN_PAD.astype(float)
HEIGHT = 520  # fits a 1366×768 screen below the page header


def _hover(frame: pd.DataFrame, zone: tzinfo) -> list[str]:
    subject = frame["subject_code"].fillna("anonymous").astype(str)
    when = in_zone(frame["captured_at"], zone).dt.strftime("%Y-%m-%d %H:%M %Z")  # "2026-11-29 09:00 CET"
    conf = frame.apply(lambda r: r[f"p_{r['label']}"], axis=1) if len(frame) else pd.Series(dtype=float)
    # Subject codes are typed by people and plotly reads tags in hover text: escaped, they show as typed.
    return [
        f"<b>{html.escape(s)}</b><br>{t}<br>{lab} ({c:.0%})<br>session #{sid}, {where}<br>"
        f"V {v:+.2f}  A {a:+.2f}  D {d:+.2f}"
        for s, t, lab, c, sid, where, v, a, d in zip(
            subject,
            when,
            frame["label"],
            conf,
            frame["session_id"],
            _where(frame),
            frame["valence"],
            frame["arousal"],
            frame["dominance"],
        )
    ]


def _where(frame: pd.DataFrame) -> list[str]:
    """Where a reading is from: 'face 3' of a photo, or 'video 12.5 s, track 2'."""
    times = frame["frame_time_s"] if "frame_time_s" in frame else pd.Series(np.nan, index=frame.index)
    tracks = frame["track_id"] if "track_id" in frame else pd.Series(np.nan, index=frame.index)
    return [
        f"face {int(fi) + 1}" if pd.isna(t) else f"video {float(t):.1f} s, track {int(k)}"
        for fi, t, k in zip(frame["face_index"], times, tracks)
    ]


def vad_scatter_3d(
    frame: pd.DataFrame, zone: tzinfo, prototypes: np.ndarray = PROTOTYPES, prototype_name: str = PROTOTYPE_NAME
) -> go.Figure:
    """Readings as points in V–A–D space, coloured by class, with the class prototypes as anchors; hover times
    in `zone`."""
    fig = go.Figure()
    hover = np.array(_hover(frame, zone), dtype=object)
    for name in CLASS_NAMES:
        rows = (frame["label"] == name).to_numpy()
        if not rows.any():
            continue
        part = frame[rows]
        fig.add_trace(
            go.Scatter3d(
                x=part["valence"],
                y=part["arousal"],
                z=part["dominance"],
                mode="markers",
                name=name,
                marker=dict(size=4, color=CLASS_COLOURS[name], opacity=0.8),
                hovertext=hover[rows],
                hoverinfo="text",
                legendgroup=name,
            )
        )
    fig.add_trace(
        go.Scatter3d(
            x=prototypes[:, 0],
            y=prototypes[:, 1],
            z=prototypes[:, 2],
            mode="markers+text",
            name=prototype_name,
            text=list(CLASS_NAMES),
            textposition="top center",
            marker=dict(
                size=7,
                symbol="diamond",
                color=[CLASS_COLOURS[c] for c in CLASS_NAMES],
                line=dict(color="black", width=2),
            ),
            hovertext=[
                f"{c} prototype<br>V {v:+.2f} A {a:+.2f} D {d:+.2f}" for c, (v, a, d) in zip(CLASS_NAMES, prototypes)
            ],
            hoverinfo="text",
        )
    )
    axis = dict(range=AXIS_RANGE, autorange=False, zeroline=True, dtick=0.5)
    fig.update_layout(
        height=HEIGHT,
        margin=dict(l=0, r=0, t=30, b=0),
        legend=dict(title="Class", itemsizing="constant"),
        title=dict(text=f"{len(frame)} readings in V–A–D space", font=dict(size=14)),
        scene=dict(
            xaxis=dict(title=AXIS_TITLES["valence"], **axis),
            yaxis=dict(title=AXIS_TITLES["arousal"], **axis),
            zaxis=dict(title=AXIS_TITLES["dominance"], **axis),
            aspectmode="cube",
        ),
    )
    return fig


def vad_projections(frame: pd.DataFrame, zone: tzinfo, prototypes: np.ndarray = PROTOTYPES) -> go.Figure:
    """The three 2-D projections V–A, V–D and A–D side by side; hover times in `zone`."""
    pairs = [("valence", "arousal"), ("valence", "dominance"), ("arousal", "dominance")]
    fig = make_subplots(
        rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=[f"{x.title()} – {y.title()}" for x, y in pairs]
    )
    hover = np.array(_hover(frame, zone), dtype=object)
    dims = {"valence": 0, "arousal": 1, "dominance": 2}
    for col, (xd, yd) in enumerate(pairs, 1):
        for name in CLASS_NAMES:
            rows = (frame["label"] == name).to_numpy()
            if rows.any():
                fig.add_trace(
                    go.Scattergl(
                        x=frame.loc[rows, xd],
                        y=frame.loc[rows, yd],
                        mode="markers",
                        name=name,
                        legendgroup=name,
                        showlegend=col == 1,
                        marker=dict(size=5, color=CLASS_COLOURS[name], opacity=0.7),
                        hovertext=hover[rows],
                        hoverinfo="text",
                    ),
                    row=1,
                    col=col,
                )
        fig.add_trace(
            go.Scatter(
                x=prototypes[:, dims[xd]],
                y=prototypes[:, dims[yd]],
                mode="markers+text",
                text=list(CLASS_NAMES),
                textposition="top center",
                showlegend=False,
                hoverinfo="text",
                hovertext=[f"{c} prototype" for c in CLASS_NAMES],
                marker=dict(
                    symbol="diamond",
                    size=9,
                    color=[CLASS_COLOURS[c] for c in CLASS_NAMES],
                    line=dict(color="black", width=1),
                ),
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=AXIS_TITLES[xd], range=AXIS_RANGE, row=1, col=col, zeroline=True)
        fig.update_yaxes(title_text=AXIS_TITLES[yd], range=AXIS_RANGE, row=1, col=col, zeroline=True)
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), legend=dict(title="Class"))
    return fig


def class_mix(frame: pd.DataFrame, by: str = "session_id", by_title: str = "Session") -> go.Figure:
    """Share of each class per `by` value (stacked bars, each bar sums to 100 %)."""
    counts = pd.crosstab(frame[by], frame["label"]).reindex(columns=list(CLASS_NAMES), fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0) * 100
    # tick labels are read as plotly's HTML subset too: a group name or code is escaped
    x = [f"#{v}" if by == "session_id" else html.escape(str(v)) for v in shares.index]
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=shares[c],
                name=c,
                marker_color=CLASS_COLOURS[c],
                customdata=counts[c],
                hovertemplate=f"{c}: %{{y:.0f}}% (%{{customdata}} faces)<extra></extra>",
            )
            for c in CLASS_NAMES
        ]
    )
    fig.update_layout(
        barmode="stack",
        height=320,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(title="Class"),
        title=dict(text="Class mix", font=dict(size=14)),
    )
    fig.update_xaxes(title_text=by_title, type="category")
    fig.update_yaxes(title_text="Share of faces (%)", range=[0, 100])
    return fig


def vad_timeline(
    per_session: pd.DataFrame, fires: pd.Series | None = None, rule: AlertRule | None = None, *, zone: tzinfo
) -> go.Figure:
    """V, A and D per session over time: the mean line with a ±1 SD band; a cross where `rule` fires; the time
    axis in `zone`'s clock time.

    `per_session`: a `vadcore.features.session_summary`; `fires`: its `rule_fires` under `rule`.
    """
    # Session notes are typed by people and plotly reads tags in hover text: escaped, they show as typed.
    notes = per_session["note"].where(per_session["note"].astype(bool), "(no note)").map(html.escape)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    for row, dim in enumerate(VAD_DIMS, 1):
        mean, sd = per_session[f"{dim}_mean"], per_session[f"{dim}_std"].fillna(0)
        upper, lower = (mean + sd).clip(upper=VAD_MAX), (mean - sd).clip(lower=VAD_MIN)
        t = in_zone(per_session["started_at"], zone)
        fig.add_trace(
            go.Scatter(
                x=pd.concat([t, t[::-1]]),
                y=pd.concat([upper, lower[::-1]]),
                fill="toself",
                fillcolor=DIM_COLOURS[dim],
                opacity=0.18,
                line=dict(width=0),
                hoverinfo="skip",
                name=f"{dim} ±1 SD",
                showlegend=row == 1,
                legendgroup="band",
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=mean,
                mode="lines+markers",
                name=dim,
                line=dict(color=DIM_COLOURS[dim]),
                customdata=np.c_[per_session["session_id"], sd, per_session["n"], notes],
                hovertemplate=(
                    f"{dim} %{{y:+.2f}} ± %{{customdata[1]:.2f}}<br>session #%{{customdata[0]}}, "
                    "%{customdata[2]} faces<br>%{customdata[3]}<extra></extra>"
                ),
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text=AXIS_TITLES[dim], range=AXIS_RANGE, row=row, col=1, zeroline=True)
        if rule is not None and fires is not None and rule.dim == dim and fires.any():
            fig.add_trace(
                go.Scatter(
                    x=t[fires],
                    y=mean[fires],
                    mode="markers",
                    name="rule fires",
                    marker=dict(symbol="x", size=13, color="crimson", line=dict(width=1)),
                    hovertext=[
                        f"Rule fires: {rule.describe()}<br>session #{s}: {note}"
                        for s, note in zip(per_session["session_id"][fires], notes[fires])
                    ],
                    hoverinfo="text",
                    showlegend=True,
                    legendgroup="rule",
                ),
                row=row,
                col=1,
            )
    fig.update_xaxes(title_text=f"Session date ({zone_name(zone)})", row=3, col=1)
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=30, b=10), hovermode="closest")
    return fig


def vad_over_video(curve: pd.DataFrame, title: str = "", duration_s: float | None = None) -> go.Figure:
    """One person's V, A and D along one video: a panel per dimension over the video's time.

    `curve`: frame_time_s, valence, arousal, dominance, label and confidence, one row per reading (a sampled
    frame), in time order. The time axis runs from 0 to `duration_s` (else to the last reading).
    """
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    t = curve["frame_time_s"]
    what = [f"{label} ({c:.0%})" for label, c in zip(curve["label"], curve["confidence"])]
    for row, dim in enumerate(VAD_DIMS, 1):
        fig.add_trace(
            go.Scatter(
                x=t,
                y=curve[dim],
                mode="lines+markers",
                name=dim,
                line=dict(color=DIM_COLOURS[dim]),
                marker=dict(size=5),
                customdata=np.array(what, dtype=object),
                hovertemplate=f"{dim} %{{y:+.2f}} at %{{x:.1f}} s<br>%{{customdata}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text=AXIS_TITLES[dim], range=AXIS_RANGE, row=row, col=1, zeroline=True)
    end = duration_s or (float(t.max()) if len(t) else 1.0)
    fig.update_xaxes(range=[0, max(end, 0.5)], row=3, col=1)
    fig.update_xaxes(title_text="Video time (s)", row=3, col=1)
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=40 if title else 20, b=10), hovermode="closest")
    fig.update_layout(showlegend=False)
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=14)))
    return fig
