"""Lawful deployment: the rule that decides whether emotion recognition may run at all, and the plain-language
texts built around it (the notice and consent sheet of a group, the record of processing). Plain Python (no
SQLAlchemy, no Streamlit), so that pages can show the explanations; the service layer enforces the rule.

    analysis_allowed(record) -> Verdict(allowed, reason, article, obligations)

The rule reads the installation's deployment record (`db.views.DeploymentInfo`, recorded by an administrator):

- no record: refused until one is recorded;
- a research purpose without the reference of an approved protocol: refused;
- the EU/EEA, in an education institution or a workplace: the EU AI Act, Art. 5(1)(f) (applies since 2 February
  2025), prohibits AI systems that infer people's emotions there "except where the use of the AI system is
  intended to be put in place or into the market for medical or safety reasons". Allowed only for a medical or
  safety purpose, or for scientific research with a protocol reference (Art. 2(6): the Act does not apply to AI
  systems specifically developed and put into service for the sole purpose of scientific research; a narrow
  exemption, said so); refused for any other purpose;
- anywhere else: allowed, with the deployer's obligations listed (in the EU: high-risk, Annex III 1(c); inform
  the people analysed, Art. 50(3); a DPIA, GDPR Art. 35).

Everything here is information about the law, not legal advice (DISCLAIMER), and every text says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from db.enums import DEPLOYMENT_PURPOSES, DEPLOYMENT_SETTINGS, JURISDICTIONS
from db.views import DeploymentInfo, ModelVersionInfo

logger = logging.getLogger(__name__)

DISCLAIMER = (
    "This is information about the law, not legal advice. Ask your data-protection officer (or a lawyer) "
    "before you rely on it."
)

JURISDICTION_LABELS: dict[str, str] = {
    "eu": "in the EU/EEA (the EU AI Act and the GDPR apply)",
    "outside_eu": "outside the EU/EEA",
}
SETTING_LABELS: dict[str, str] = {
    "education": "an education institution (school, college, university)",
    "workplace": "a workplace (the people analysed are employees or workers)",
    "healthcare": "healthcare (clinic, practice or hospital; the people analysed are patients)",
    "research": "a research study",
    "other": "another setting",
}
PURPOSE_LABELS: dict[str, str] = {
    "medical": "medical or therapeutic",
    "safety": "safety",
    "research": "scientific research under an approved protocol",
    "education": "education (teaching, pastoral care, wellbeing)",
    "other": "another purpose",
}
# Settings where the AI Act prohibits emotion recognition unless it is for medical or safety reasons.
PROHIBITED_SETTINGS: tuple[str, ...] = ("education", "workplace")
EXCEPTED_PURPOSES: tuple[str, ...] = ("medical", "safety")

ART_5 = "EU AI Act, Art. 5(1)(f)"
ART_2_6 = "EU AI Act, Art. 2(6)"

# What the administrator reads beside the form (fixed text: safe to render as markdown).
LEGAL_EXPLANATION = f"""\
**Why the app asks.** VAD Lens infers emotions from faces. The EU AI Act, Art. 5(1)(f) (applies since
2 February 2025), prohibits placing on the market, putting into service or using AI systems that infer the
emotions of people **in workplaces and education institutions**, except where the system is put in place for
**medical or safety reasons**. Where it is not prohibited, emotion recognition is a **high-risk** AI system
(Annex III, point 1(c)), and the deployer must **inform the people exposed** to it (Art. 50(3)). The Act does not
apply to AI systems specifically developed and put into service for the sole purpose of **scientific research**
(Art. 2(6)) — a narrow exemption.

Under the GDPR, readings of a person's emotional state can be health data, and faces read this way may count as
biometric data: treat them as special-category data (Art. 9) with a sound legal basis and a data-protection
impact assessment (Art. 35). Consent of pupils or employees is doubtful where there is a power imbalance (in 2019
the Swedish DPA fined a school board for facial recognition on pupils although consent had been given).

**What the app does with this record.** In the EU, in an education institution or a workplace, analysis of
photos and videos is switched off unless the purpose is medical or safety, or scientific research with the
reference of an approved protocol. Everything stored before stays readable. Recording a purpose that is not
true does not make the use lawful.

_{DISCLAIMER}_
"""


@dataclass(frozen=True)
class Verdict:
    """Whether analysis may run under the deployment record, why, which article says so, and what the deployer
    must still do (the app cannot do it for them). Fixed texts only, never what someone typed: pages may show
    them as they are."""

    allowed: bool
    reason: str
    article: str
    obligations: tuple[str, ...] = ()


def analysis_allowed(record: DeploymentInfo | None) -> Verdict:
    """The rule (module docstring). Values outside the vocabularies (a row written around the service) refuse."""
    if record is None:
        return Verdict(
            False,
            "no deployment is recorded: an administrator must record the deployment first (Admin page, "
            "Deployment tab: where, in what setting and for what purpose the app is used), because in the EU "
            "emotion recognition is prohibited in schools and workplaces unless it is for medical or safety reasons",
            ART_5,
        )
    if (
        record.jurisdiction not in JURISDICTIONS
        or record.setting not in DEPLOYMENT_SETTINGS
        or record.purpose not in DEPLOYMENT_PURPOSES
    ):
        return Verdict(False, "the deployment record holds an unknown value; an administrator must record it again", "")
    protocol = record.protocol_ref.strip()
    if record.purpose == "research" and not protocol:
        return Verdict(
            False,
            "a research purpose needs the reference of the approved research protocol (e.g. the ethics "
            "committee's approval number); an administrator must record it",
            ART_2_6,
        )
    eu = record.jurisdiction == "eu"
    obligations = _obligations(record)
    if eu and record.setting in PROHIBITED_SETTINGS:
        where = "workplaces" if record.setting == "workplace" else "education institutions"
        if record.purpose in EXCEPTED_PURPOSES:
            return Verdict(
                True,
                f"allowed under the exception for {record.purpose} reasons: the AI Act prohibits emotion "
                f"recognition in {where} except where it is put in place for medical or safety reasons. The "
                "exception is narrow: use the readings only for the recorded reason, never to watch attention, "
                "engagement or behaviour in general",
                f"{ART_5} (exception for medical or safety reasons)",
                obligations,
            )
        if record.purpose == "research":
            return Verdict(
                True,
                "allowed as scientific research under the recorded protocol: the AI Act does not apply to AI "
                "systems specifically developed and put into service for the sole purpose of scientific research. "
                "That exemption is narrow: a pilot whose readings also serve teaching, pastoral or staff decisions "
                f"is not research only, and emotion recognition in {where} is then prohibited. Check with your "
                "data-protection officer and ethics committee that the study qualifies",
                f"{ART_2_6}; otherwise {ART_5}",
                obligations,
            )
        return Verdict(
            False,
            f"the EU AI Act prohibits using AI systems to infer the emotions of people in {where}, except where "
            "it is put in place for medical or safety reasons; this deployment is recorded for "
            f"{PURPOSE_LABELS[record.purpose]} purposes",
            f"{ART_5} (prohibited since 2 February 2025)",
        )
    if eu:
        return Verdict(
            True,
            "not a prohibited use in this setting, but emotion recognition is a high-risk AI system with duties "
            "for the deployer",
            "EU AI Act, Annex III 1(c) and Art. 50(3)",
            obligations,
        )
    return Verdict(
        True,
        "recorded outside the EU/EEA: the EU AI Act applies to a deployer there only where the system's output "
        "is used in the EU; the law of your country applies",
        "EU AI Act, Art. 2(1)(c)",
        obligations,
    )


def _obligations(record: DeploymentInfo) -> tuple[str, ...]:
    """What the deployer must still do where analysis is allowed (the app enforces none of it but the notice)."""
    common = (
        "Keep a person in charge of every decision: readings are estimates with known limits (model card), "
        "never a diagnosis, and no decision about a person may rest on them alone.",
        "Analyse only people who were told, in advance and in plain words: print each group's notice and consent "
        "sheet (Subjects page) and record consent per subject.",
    )
    if record.jurisdiction != "eu":
        return (
            *common,
            "Follow your country's data-protection and AI law; if people in the EU are monitored or the output is "
            "used in the EU, the GDPR (Art. 3(2)) and the AI Act (Art. 2(1)(c)) may apply too.",
            "Assess the risks to the people analysed before you start (the Admin page exports a record of "
            "processing to begin with).",
        )
    eu = [
        "Inform the people exposed to the system that it runs (EU AI Act, Art. 50(3)); the notice sheet is a "
        "start, not the whole duty.",
        "Emotion recognition is high-risk (AI Act, Annex III 1(c)); the deployer's duties (Art. 26: use as "
        "instructed, human oversight by trained staff, keep the logs, inform workers' representatives) apply "
        "from 2 August 2026 under the Act as adopted — check whether later amendments moved that date.",
        "Carry out a data-protection impact assessment before you start (GDPR, Art. 35): the Admin page exports "
        "a record of processing to begin it.",
        "Have a lawful basis under GDPR Art. 6 and an exception under Art. 9 for special-category data (emotional "
        "state can be health data); consent of pupils or employees is doubtful under a power imbalance.",
    ]
    if record.setting == "healthcare":
        eu.append(
            "Analyse patients only: a clinic is also its staff's workplace, where inferring emotions is "
            "prohibited (Art. 5(1)(f))."
        )
    if record.purpose == "research":
        eu.append(
            "Research: process under GDPR Art. 9(2)(j) and Art. 89 safeguards, as the approved protocol says; "
            "keep readings out of any decision about a participant."
        )
    return (*common, *eu)


# ---------------------------------------------------------------- the model's measured figures


def read_model_figures(checkpoint: Path) -> dict[str, Any] | None:
    """The measured figures beside a checkpoint (`<name>.json`, written from scripts/evaluate.py), reduced to what
    a notice and a record of processing state: version, accuracy per test split, V/A/D agreement with people.
    None when the file is absent or unreadable (a model that was never measured)."""
    path = checkpoint.with_suffix(".json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.info("no measured figures for %s (%s)", checkpoint, exc)
        return None
    if not isinstance(raw, dict):
        return None
    accuracy = {
        split: raw[split]["ten_crop_accuracy"]
        for split in ("PublicTest", "PrivateTest")
        if isinstance(raw.get(split), dict) and isinstance(raw[split].get("ten_crop_accuracy"), (int, float))
    }
    human = raw.get("human_vad_public_test_ten_crop")
    pearson = {}
    if isinstance(human, dict):
        pearson = {
            dim: human[dim]["pearson"]
            for dim in ("valence", "arousal", "dominance")
            if isinstance(human.get(dim), dict) and isinstance(human[dim].get("pearson"), (int, float))
        }
    return {
        "model_version": str(raw.get("model_version", "unknown")),
        "file": path.name,
        "measured_with": str(raw.get("measured_with", "")),
        "ten_crop_accuracy": accuracy,
        "vad_pearson_with_people": pearson,
        "vad_faces_with_human_labels": human.get("n") if isinstance(human, dict) else None,
        "headline": _headline(raw.get("headline")),
    }


def _headline(raw: object) -> dict[str, Any] | None:
    """The card's headline (accuracy on a test split with its interval), or None when absent or malformed."""
    if not isinstance(raw, dict):
        return None
    accuracy, interval = raw.get("accuracy"), raw.get("interval")
    if not isinstance(accuracy, (int, float)) or not (
        isinstance(interval, list) and len(interval) == 2 and all(isinstance(v, (int, float)) for v in interval)
    ):
        return None
    return {
        "accuracy": float(accuracy),
        "interval": (float(interval[0]), float(interval[1])),
        "split": str(raw.get("split", "test")),
        "deduplicated": bool(raw.get("deduplicated", False)),
        "n": raw.get("n") if isinstance(raw.get("n"), int) else None,
    }


@dataclass(frozen=True)
class ModelInUse:
    """The model that serves readings, as a notice, a record or a readings page names it: its version, and the
    shipped model card's figures (`read_model_figures`) only when it is the shipped checkpoint; else None."""

    version: str
    figures: dict[str, Any] | None

    @property
    def headline(self) -> str:
        """One sentence: the card's headline accuracy with its interval, or why there is none."""
        head = (self.figures or {}).get("headline")
        if self.figures is None:
            return "Not the shipped model: see Admin → Model for its check."
        if head is None:
            return "The model card states no headline figure."
        faces = f", {head['n']:,} faces" if head["n"] else ""
        low, high = head["interval"]
        return (
            f"Model card: {head['accuracy']:.1%} accuracy (95% interval {low:.1%}–{high:.1%}) on "
            f"{'deduplicated ' if head['deduplicated'] else ''}{head['split']}{faces}."
        )


def model_in_use(active: ModelVersionInfo | None, shipped: Path) -> ModelInUse:
    """`active` (the registry's active model) as `ModelInUse`. None means the shipped checkpoint serves (as
    `ui.load_model` does). The card describes `active` only when it is the shipped file and the version the card
    measured: a retrained file at the same path is not the model the card describes."""
    card = read_model_figures(shipped)
    if active is None:
        return ModelInUse(card["model_version"] if card else shipped.name, card)
    is_shipped = (
        card is not None
        and Path(active.path).resolve() == shipped.resolve()
        and active.report.get("model_version") == card["model_version"]
    )
    return ModelInUse(active.version, card if is_shipped else None)


def _accuracy_sentence(figures: Mapping[str, Any] | None) -> str:
    if not figures or not figures.get("ten_crop_accuracy"):
        version = f" (version {figures['model_version']})" if figures and figures.get("model_version") else ""
        return f"The model in use{version} was not measured here; ask the administrator for its accuracy."
    acc = figures["ten_crop_accuracy"]
    share = " and ".join(f"{100 * v:.0f}%" for v in acc.values())
    return (
        f"On faces it never saw in training, the model (version {figures['model_version']}) names the emotion "
        f"shown correctly about {share} of the time (test sets of web photos of adults, {', '.join(acc)}); "
        "expect less on children, turned heads, masks or poor light. Valence and arousal are rough estimates and "
        "dominance is experimental."
    )


# ---------------------------------------------------------------- the notice and consent sheet of a group


def retention_text(retention_days: int | None) -> str:
    if retention_days is None:
        return "until they are deleted (this group has no time limit; ask for deletion at any time)"
    return f"for {retention_days} days after each session, then deleted automatically"


def notice_sheet(
    record: DeploymentInfo | None,
    group: Mapping[str, Any],
    access: Mapping[str, int],
    figures: Mapping[str, Any] | None,
) -> str:
    """The plain-language notice and consent sheet for the people a group analyses (Markdown, for download and
    printing). `group`: name, kind, keep_images, retention_days; `access`: how many accounts of each role can see
    the group's readings. Names in it were typed by people: the app offers it as a file, never renders it."""
    organisation = record.organisation if record else "(not recorded yet: ask the administrator)"
    contact = record.contact if record else "(not recorded yet: ask the administrator)"
    verdict = analysis_allowed(record)
    people = "pupils or students" if group.get("kind") == "class" else "the people in this caseload"
    roles = [
        f"{n} {role}{'s' if n != 1 else ''}"
        for role, n in access.items()
        if n  # roles with nobody in them say nothing
    ]
    who = ", ".join(roles) if roles else "the administrators"
    photos = (
        "The photos themselves are kept with the readings (this group's policy)."
        if group.get("keep_images")
        else "The photos and videos themselves are not kept: only a checksum of each file and the readings."
    )
    legal = (
        f"The deployment is recorded in {SETTING_LABELS.get(record.setting, record.setting)}, "
        f"{JURISDICTION_LABELS.get(record.jurisdiction, record.jurisdiction)}; purpose: "
        f"{PURPOSE_LABELS.get(record.purpose, record.purpose)}."
        + (f" Research protocol: {record.protocol_ref}." if record and record.protocol_ref else "")
        if record
        else "The deployment has not been recorded yet; no analysis runs until it is."
    )
    lines = [
        f"# Emotion readings in {group['name']}: what happens and your choices",
        "",
        f"**Organisation:** {organisation}  ",
        f"**Questions, access, deletion, withdrawal of consent:** {contact}",
        "",
        "## What is read",
        f"{organisation} uses VAD Lens, a computer program that looks at the faces in classroom or session "
        f"photos and short videos of {people}. For each face it estimates one of seven basic emotions (angry, "
        "disgust, fear, happy, sad, surprise, neutral) and three numbers: how pleasant (valence), how "
        "activated (arousal) and how in control (dominance) the face looks.",
        "",
        "It does **not** recognise who you are: faces are linked to a code (for example S-014), never to a "
        "name, and only when you have agreed. It does not measure what you feel, your health or your learning.",
        "",
        "## What is kept",
        "The estimates (emotion, its probabilities, valence, arousal, dominance), the time, and your code if "
        f"you agreed. {photos} Grades or other outcomes may be stored under your code where the programme uses "
        "them.",
        "",
        "## For how long",
        f"Readings are kept {retention_text(group.get('retention_days'))}.",
        "",
        "## Who sees it",
        f"Only staff accounts given access to {group['name']}: {who}. Administrators can see every group. "
        "Every look at the readings is logged.",
        "",
        "## Limits",
        _accuracy_sentence(figures),
        "",
        "A reading describes how a face looked in one instant. It is never a diagnosis and no decision about you "
        "may rest on it alone.",
        "",
        "## Your choices",
        "Taking part is voluntary. Saying no, or withdrawing later, has no consequence for your marks, care or "
        f"job. To withdraw, or to see or delete your data, contact {contact}. Once consent is withdrawn your "
        "readings are no longer shown or used; ask for deletion to erase them.",
        "",
        "## Legal basis",
        legal,
        "",
        "Under the EU AI Act (Art. 50(3)) people must be told when emotion recognition is used on them; this "
        "sheet does that. In schools and workplaces in the EU it may be used only for medical or safety reasons "
        "(Art. 5(1)(f)) or in a research study that qualifies (Art. 2(6)).",
        "",
        f"Status in the app: {'analysis allowed' if verdict.allowed else 'analysis switched off'} ({verdict.article}).",
        "",
        f"_{DISCLAIMER}_",
        "",
        "## Consent",
        f"I have read this sheet and agree that my face is read as described in {group['name']}.",
        "",
        "Code: ______________   Name: ________________________________   Date: ______________",
        "",
        "Signature (for a child under the age of consent, a parent or guardian): ______________________________",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- the record of processing


def processing_record_markdown(record: Mapping[str, Any]) -> str:
    """The record of processing (`Service.processing_record`) as a Markdown document to start a DPIA."""
    controller = record.get("controller") or {}
    verdict = record["verdict"]
    model = record["model"]
    lines = [
        "# Record of processing — VAD Lens",
        "",
        f"Generated {record['generated_at']}. A starting point for a data-protection impact assessment (GDPR "
        "Art. 35) and the record of processing activities (Art. 30), not a substitute for either.",
        "",
        f"_{DISCLAIMER}_",
        "",
        "## Controller",
    ]
    if controller:
        lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in controller.items()]
    else:
        lines.append("- No deployment is recorded.")
    lines += [
        "",
        "## Verdict of the app's rule",
        f"- analysis allowed: {'yes' if verdict['allowed'] else 'no'}",
        f"- why: {verdict['reason']}",
        f"- article: {verdict['article']}",
        *[f"- still to do: {o}" for o in verdict["obligations"]],
        "",
        "## Purposes",
        *[f"- {p}" for p in record["purposes"]],
        "",
        "## People and categories of data",
        *[f"- {c}" for c in record["categories_of_data"]],
        "",
        "## Groups: retention and access",
        "",
        "| group | kind | simulated | photos kept | retention | subjects (consent granted) | sessions | readings "
        "| kept images | accounts with access |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in record["groups"]:
        access = ", ".join(f"{role}: {n}" for role, n in g["access"].items()) or "administrators only"
        lines.append(
            f"| {_cell(g['name'])} | {g['kind']} | {'yes' if g['simulated'] else 'no'} | "
            f"{'yes' if g['photos_kept'] else 'no'} | {g['retention']} | {g['subjects']} ({g['consent_granted']}) | "
            f"{g['sessions']} | {g['readings']} | {g['kept_images']} | {access} |"
        )
    lines += [
        "",
        "## Who has access",
        *[f"- {role}: {n} active account(s)" for role, n in record["accounts"].items()],
        f"- {record['access_rule']}",
        "",
        "## Model",
        f"- version in use: {model['model_version']}",
        f"- measured accuracy (ten-crop, faces never trained on): {model['accuracy']}",
        f"- valence/arousal/dominance against people (Pearson r): {model['vad_agreement']}",
        f"- measured with: {model['measured_with']}",
        f"- versions in stored readings: {', '.join(model['versions_in_readings']) or 'none yet'}",
        "",
        "## Safeguards in the app",
        *[f"- {s}" for s in record["safeguards"]],
        "",
    ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """A table cell of a Markdown file: no pipe or line break can break the table."""
    return text.replace("|", "\\|").replace("\n", " ")
