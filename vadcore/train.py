"""Training: the multi-task model on FER2013 (or the authors' VAD CSV, or an image folder).

Driven by `scripts/train.py`; every flag has a working default. Checkpoints every epoch and resumes.
Under `torchrun --nproc_per_node=K` it trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from vadcore.checkpoint import load_model, plain, save_checkpoint
from vadcore.consistency import DEFAULT_RULES, RULE_SETS, consistency_violation_rate
from vadcore.data import (
    FaceTable,
    fer_csv_path,
    file_sha256,
    load_authors_vad_csv,
    load_fer2013_cached,
    load_ferplus_votes,
    load_image_folder,
)
from vadcore.inference import predict_arrays, resolve_device
from vadcore.losses import CONSISTENCY_KINDS, MODES, LossConfig, multitask_loss
from vadcore.metrics import classification_metrics, regression_metrics
from vadcore.model import STEMS, ModelConfig, VADNet, build_model
from vadcore.settings import RUNS_DIR, get_settings
from vadcore.transforms import augment, degrade, photometric, random_erase, to_tensor
from vadcore.vad_targets import (
    RUSSELL_MEHRABIAN_PAD,
    VAD_TARGET_KINDS,
    VADTargetModel,
    attach_vad_targets,
    calibrate_prior,
    fit_vote_regression,
    human_feature_rows,
    human_rows_in_split,
    vote_distribution,
)

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train the VAD Lens multi-task model (class + V, A, D).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = p.add_argument_group("data")
    d.add_argument("--data", type=Path, default=get_settings().data_dir, help="folder with fer2013/ and vad_seed/")
    d.add_argument(
        "--vad-csv",
        type=Path,
        default=None,
        help="train on the authors' VAD CSV (index, emotionLabel, Valence, Arousal, Dominance, "
        "emotion, pixels) with its human labels, instead of FER2013 + derived targets",
    )
    d.add_argument(
        "--image-folder",
        type=Path,
        default=None,
        help="train on <folder>/<split>/<class>/*.jpg (class targets; VAD from the class prior)",
    )
    d.add_argument(
        "--vad-target",
        choices=VAD_TARGET_KINDS,
        default="regression",
        help="derived VAD target of faces without a human label: regression from FER+ votes and label (v2), "
        "or the calibrated class prior (v1)",
    )
    d.add_argument("--train-split", default="Training")
    d.add_argument("--val-split", default="PublicTest", help="monitored each epoch; never trained on")
    m = p.add_argument_group("model and loss")
    m.add_argument("--stem", choices=STEMS, default="paper")
    m.add_argument("--mode", choices=sorted(MODES), default="vad", help="V&class, A&class, D&class or VAD&class")
    m.add_argument("--consistency", choices=CONSISTENCY_KINDS, default="soft")
    m.add_argument("--lambda", dest="lam", type=float, default=0.1, help="weight of the consistency term")
    m.add_argument("--rules", choices=sorted(RULE_SETS), default=DEFAULT_RULES)
    m.add_argument("--vad-weight", type=float, default=1.0)
    m.add_argument("--ortho", type=float, default=0.0, help="orthogonal regularisation (authors: 0.5)")
    m.add_argument("--label-smoothing", type=float, default=0.0)
    m.add_argument(
        "--soft-target",
        type=float,
        default=0.0,
        help="weight of the FER+ vote shares in the class target (0: the FER2013 label alone)",
    )
    m.add_argument("--init-from", type=Path, default=None, help="start from this checkpoint's weights (fine-tuning)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=120)
    o.add_argument("--batch-size", type=int, default=16)
    o.add_argument("--lr", type=float, default=0.01, help="peak learning rate")
    o.add_argument("--momentum", type=float, default=0.9)
    o.add_argument("--weight-decay", type=float, default=5e-4)
    o.add_argument(
        "--schedule",
        choices=("step", "onecycle"),
        default="step",
        help="step: ÷10 every --step-iters iterations (the paper); onecycle: warm-up then cosine",
    )
    o.add_argument("--step-iters", type=int, default=10_000)
    o.add_argument(
        "--clip-grad",
        type=float,
        default=0.0,
        help="clip the gradient norm to this (0: off); keeps very short warm-ups from diverging",
    )
    o.add_argument("--rotation", type=float, default=10.0, help="max random rotation, degrees")
    o.add_argument("--no-scale-jitter", action="store_true", help="crops and flips only, as the paper")
    o.add_argument("--photometric", type=float, default=0.0, help="probability of random gamma/contrast/brightness")
    o.add_argument("--degrade", type=float, default=0.0, help="probability of each of blur, downscale and JPEG")
    o.add_argument("--erase", type=float, default=0.0, help="probability of erasing one random rectangle")
    o.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="decay of an exponential moving average of the weights "
        "(0: off); with it on, the averaged weights are the ones saved",
    )
    r = p.add_argument_group("run")
    r.add_argument("--out", type=Path, default=RUNS_DIR / "default")
    r.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    r.add_argument(
        "--stop-after",
        type=int,
        default=0,
        help="stop after this many epochs in this invocation (time-boxed sessions; --resume later)",
    )
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    r.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    r.add_argument("--amp", action="store_true", help="bfloat16/float16 autocast on CUDA")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--limit-train", type=int, default=0, help="use only the first N training faces (0: all)")
    r.add_argument("--limit-val", type=int, default=0)
    r.add_argument(
        "--smoke",
        action="store_true",
        help="a size that finishes in under a minute on CPU: 512 faces, 1 epoch, torchvision stem",
    )
    r.add_argument("--half", action="store_true", help="store the final weights in float16")
    return p


def load_fer_with_vad(data: Path, rules: str = DEFAULT_RULES, vad_target: str = "regression") -> tuple[FaceTable, dict]:
    """FER2013 with a VAD target per face (human where labelled, else derived) and its FER+ vote shares."""
    fer_path = fer_csv_path(data)
    fer = load_fer2013_cached(fer_path)
    votes = load_ferplus_votes(data / "fer2013" / "fer2013new.csv")
    human = load_authors_vad_csv(data / "vad_seed" / "train.csv")
    # Only authors' rows that are FER2013 Training faces (by pixels, twins included) calibrate or train.
    human_train = human.subset(human_rows_in_split(human, fer, "Training"))
    prior = calibrate_prior(human_train)
    derived: VADTargetModel = prior
    if vad_target == "regression" and human_train.vad is not None:
        features, joined_rows = human_feature_rows(human_train, fer, votes)
        derived = fit_vote_regression(features, human_train.vad[joined_rows])
    joined = attach_vad_targets(fer, votes, derived, [human_train])
    fer.class_votes = vote_distribution(votes, fer.fer_index, fer.labels)
    info = {
        "data_checksum": file_sha256(fer_path, data / "fer2013" / "fer2013new.csv", data / "vad_seed" / "train.csv"),
        "vad_target": vad_target,
        "vad_prior": prior.prototypes.round(4).tolist(),
        "vad_prior_sign_breaks": prior.sign_check(rules),
        **joined,
    }
    return fer, info


def load_datasets(args: argparse.Namespace) -> tuple[FaceTable, FaceTable, dict]:
    if args.vad_csv is not None:
        train = load_authors_vad_csv(args.vad_csv)
        info = {"data_checksum": file_sha256(args.vad_csv), "vad_source": "authors' human labels"}
        val_csv = args.vad_csv.with_name("public_test.csv")
        val = (
            load_authors_vad_csv(val_csv, "PublicTest")
            if val_csv.exists() and val_csv != args.vad_csv
            else train.subset(np.arange(len(train)) % 10 == 0)
        )
        return train, val, info
    if args.image_folder is not None:
        table = load_image_folder(args.image_folder)
        table.vad = RUSSELL_MEHRABIAN_PAD[table.labels]  # no human labels to calibrate with
        table.vad_is_human = np.zeros(len(table), bool)
        info = {"data_checksum": "image-folder:" + str(args.image_folder), "vad_source": "class prior"}
        return table.split(args.train_split), table.split(args.val_split), info
    fer, info = load_fer_with_vad(args.data, args.rules, args.vad_target)
    info["vad_source"] = (
        "human labels where available, else a ridge regression from FER+ vote shares and label (fitted on the "
        "human Training rows)"
        if args.vad_target == "regression"
        else "human labels where available, else calibrated R&M prior under FER+ votes"
    )
    return fer.split(args.train_split), fer.split(args.val_split), info


def evaluate_table(model, table: FaceTable, loss_cfg: LossConfig, device, use_ten_crop: bool = False) -> dict:
    probs, vad = predict_arrays(model, table.pixels, use_ten_crop=use_ten_crop, device=device)
    predicted = probs.argmax(1)
    out = classification_metrics(table.labels, predicted)
    if table.vad is not None:
        out["vad_all"] = regression_metrics(vad, table.vad, loss_cfg.dims)
        if table.vad_is_human is not None and table.vad_is_human.any():
            h = table.vad_is_human
            out["vad_human"] = regression_metrics(vad[h], table.vad[h], loss_cfg.dims)
    out["consistency_violation_rate"] = consistency_violation_rate(
        torch.as_tensor(predicted), torch.as_tensor(vad), loss_cfg.rules, loss_cfg.dims
    )
    return out


def _setup_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return (dist.get_rank() if world > 1 else 0), world


def make_scheduler(opt, args, steps_per_epoch: int):
    total = args.epochs * steps_per_epoch
    if args.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=args.lr, total_steps=max(total, 1), pct_start=0.15, div_factor=20, final_div_factor=200
        )
    return torch.optim.lr_scheduler.StepLR(opt, step_size=args.step_iters, gamma=0.1)


# Flags that may differ between a run and its --resume: they steer the invocation, not what is learned.
RUN_CONTROL_FLAGS = frozenset({"resume", "stop_after", "device", "threads"})


class ResumeMismatch(ValueError):
    """--resume was asked with arguments that differ from those the run started with."""


def recipe_args(args: argparse.Namespace) -> dict:
    """The arguments that define a run (stored in last.pt; a resume must repeat them)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in RUN_CONTROL_FLAGS}


def train_one_epoch(
    net: torch.nn.Module,
    model: VADNet,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    batches: list[torch.Tensor],
    train_set: FaceTable,
    loss_cfg: LossConfig,
    args: argparse.Namespace,
    gen: torch.Generator,
    device: torch.device,
    ema: AveragedModel | None = None,
    desc: str = "",
    show: bool = True,
) -> dict:
    """One pass over `batches` (index tensors into `train_set`); returns mean losses and training accuracy."""
    model.train()
    pixels = torch.as_tensor(train_set.pixels)
    labels = torch.as_tensor(train_set.labels)
    vad_t = torch.as_tensor(
        train_set.vad if train_set.vad is not None else np.full((len(train_set), 3), np.nan, np.float32)
    ).float()
    soft: torch.Tensor | None = None
    if args.soft_target > 0:
        if train_set.class_votes is None:
            raise ValueError("--soft-target needs FER+ votes, which this training data does not have")
        onehot = torch.nn.functional.one_hot(labels, model.config.num_classes).float()
        soft = (1 - args.soft_target) * onehot + args.soft_target * torch.as_tensor(train_set.class_votes).float()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp and device.type == "cuda")
    sums = {"total": 0.0, "ce": 0.0, "mse": 0.0, "consistency": 0.0}
    correct = seen = 0
    bar = tqdm(batches, desc=desc, disable=not show, mininterval=1.0 if sys.stderr.isatty() else 30.0, leave=True)
    for step, idx in enumerate(bar):
        x = augment(
            to_tensor(pixels[idx]),
            model.config.input_size,
            gen,
            args.rotation,
            (1.0, 1.0) if args.no_scale_jitter else (0.9, 1.1),
        )
        if args.photometric:
            x = photometric(x, gen, args.photometric)
        if args.degrade:
            x = degrade(x, gen, args.degrade)
        if args.erase:
            x = random_erase(x, gen, args.erase)
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y, v = labels[idx].to(device), vad_t[idx].to(device)
        with autocast:
            logits, vad = net(x)
        parts = multitask_loss(
            logits.float(),
            vad.float(),
            y,
            v,
            loss_cfg,
            model.orthogonal_weights() if loss_cfg.ortho else None,
            None if soft is None else soft[idx].to(device),
        )
        opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        if args.clip_grad:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update_parameters(model)
        for k in sums:
            if k in parts:
                sums[k] += parts[k].item()
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        bar.set_postfix(
            refresh=False,
            loss=f"{sums['total'] / (step + 1):.3f}",
            acc=f"{correct / seen:.3f}",
            lr=f"{sched.get_last_lr()[0]:.4f}",
        )
    return {"train_acc": correct / max(seen, 1), **{f"train_{k}": v / max(len(batches), 1) for k, v in sums.items()}}


def train(args: argparse.Namespace) -> dict:
    if args.smoke:
        args.limit_train = args.limit_train or 512
        args.limit_val = args.limit_val or 256
        args.epochs, args.stem, args.batch_size = 1, "torchvision", 64
    if args.threads:
        torch.set_num_threads(args.threads)
    rank, world = _setup_distributed()
    device = resolve_device(args.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    train_set, val_set, data_info = load_datasets(args)
    if args.limit_train:
        train_set = train_set.subset(np.arange(len(train_set)) < args.limit_train)
    if args.limit_val:
        val_set = val_set.subset(np.arange(len(val_set)) < args.limit_val)
    if len(train_set) == 0:
        raise ValueError(f"no training faces in split {args.train_split!r}")

    loss_cfg = LossConfig(
        mode=args.mode,
        consistency=args.consistency,
        lam=args.lam,
        rules=args.rules,
        vad_weight=args.vad_weight,
        ortho=args.ortho,
        label_smoothing=args.label_smoothing,
    )
    if args.init_from is not None:
        model, init_meta = load_model(args.init_from)
        if model.config.stem != args.stem:
            raise ValueError(f"--init-from {args.init_from} has stem {model.config.stem!r}, not --stem {args.stem!r}")
        data_info["initialised_from"] = init_meta.get("model_version")
    else:
        model = build_model(ModelConfig(stem=args.stem))
    model_cfg = model.config
    model = model.to(device).to(memory_format=torch.channels_last)
    net = (
        DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if world > 1
        else model
    )
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    opt = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, nesterov=True
    )
    per_rank = math.ceil(len(train_set) / world)
    steps_per_epoch = max(per_rank // args.batch_size, 1)
    sched = make_scheduler(opt, args, steps_per_epoch)

    args.out.mkdir(parents=True, exist_ok=True)
    history: list[dict] = []
    start_epoch = 0
    last = args.out / "last.pt"
    if args.resume and last.exists():
        # weights_only: a planted pickle is refused, not run; last.pt is written with plain history below
        state = torch.load(last, map_location=device, weights_only=True)
        stored = state.get("args", {})
        differing = sorted(k for k, v in recipe_args(args).items() if stored.get(k) != v)
        if differing:
            raise ResumeMismatch(
                f"{last} was started with different arguments ({', '.join(differing)}); repeat the original "
                "command with --resume, or write to another --out"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        start_epoch, history = state["epoch"], state["history"]
        if rank == 0:
            logger.info("resumed from %s after epoch %d", last, start_epoch)

    show = rank == 0
    stop_at = min(args.epochs, start_epoch + args.stop_after) if args.stop_after else args.epochs
    for epoch in range(start_epoch, stop_at):
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        order = torch.randperm(len(train_set), generator=gen)[rank::world][: steps_per_epoch * args.batch_size]
        t0 = time.time()
        record = {
            "epoch": epoch + 1,
            **train_one_epoch(
                net,
                model,
                opt,
                sched,
                list(order.split(args.batch_size)),
                train_set,
                loss_cfg,
                args,
                gen,
                device,
                ema,
                desc=f"epoch {epoch + 1}/{args.epochs}",
                show=show,
            ),
        }
        record["seconds"] = round(time.time() - t0, 1)
        if show and len(val_set):
            val = evaluate_table(model, val_set, loss_cfg, device)
            record["val_acc"] = val["accuracy"]
            record["val_violation_rate"] = val["consistency_violation_rate"]["any"]
            record["val_vad"] = {d: m["ccc"] for d, m in val.get("vad_all", {}).items()}
            if ema is not None:
                record["val_acc_ema"] = evaluate_table(ema.module, val_set, loss_cfg, device)["accuracy"]
        history.append(record)
        if show:
            logger.info("epoch %s", json.dumps(record))
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    **({"ema": ema.state_dict()} if ema is not None else {}),
                    "epoch": epoch + 1,
                    "args": recipe_args(args),
                    "history": plain(history),  # numpy floats → float, so that weights_only can read it back
                },
                args.out / "last.tmp",
            )
            (args.out / "last.tmp").replace(last)

    final: VADNet = ema.module if ema is not None else model  # type: ignore[assignment]
    result = {
        "args": recipe_args(args),
        "model_config": model_cfg.to_dict(),
        "loss_config": asdict(loss_cfg),
        "data": {**data_info, "train_faces": len(train_set), "val_faces": len(val_set)},
        "history": history,
    }
    finished = len(history) >= args.epochs
    if show and finished:
        final.eval()
        if len(val_set):
            result["final_val"] = evaluate_table(final, val_set, loss_cfg, device)
        version = f"vadlens-r18-{args.stem}-{args.mode}-{args.consistency}-{time.strftime('%Y%m%d')}"
        save_checkpoint(
            args.out / "model.pt",
            final,
            model_version=version,
            data_checksum=data_info["data_checksum"],
            half=args.half,
            training={
                "rules": args.rules,
                "mode": args.mode,
                "consistency": args.consistency,
                "lambda": args.lam,
                "epochs": args.epochs,
                "stem": args.stem,
                "vad_source": data_info.get("vad_source"),
                "train_faces": len(train_set),
                "recipe": recipe_args(args),
                "initialised_from": data_info.get("initialised_from"),
            },
        )
        (args.out / "metrics.json").write_text(json.dumps(plain(result), indent=1))
        logger.info("wrote %s and %s", args.out / "model.pt", args.out / "metrics.json")
    elif show:
        logger.info("stopped after epoch %d of %d; continue with --resume", len(history), args.epochs)
    if world > 1:
        dist.destroy_process_group()
    return result


def main(argv: list[str] | None = None) -> dict:
    return train(build_parser().parse_args(argv))
