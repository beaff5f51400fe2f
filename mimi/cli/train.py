"""``mimi train --recipe R``: train a zoo model from the dataset, evaluate it, write weights and card."""

from __future__ import annotations

from pathlib import Path

import torch

from mimi.cli import CommandError
from mimi.cli.common import (add_data_dir, add_device, add_out_dir, add_seed, add_threads, apply_threads, command_line,
                             resolve_device, writable_path)
from mimi.core.progress import TerminalBar
from mimi.data.datasets import load_dataset
from mimi.data.input_spaces import DEFAULT_INPUT_SPACE, input_space
from mimi.models import zoo
from mimi.models.evaluation import evaluate
from mimi.models.networks import build
from mimi.models.training import RECIPES, TrainConfig, machine_description, train

DESCRIPTIONS = {
    "standard": "standard training",
    "pgd-at": "PGD adversarial training (L-inf)",
    "trades": "TRADES adversarial training (L-inf)",
    "cutout": "standard training with Cutout",
    "dropout": "standard training with dropout",
}
ROBUST_EPS = 0.1


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model with a zoo recipe")
    p.add_argument("--recipe", required=True, choices=RECIPES,
                   help="standard, pgd-at (PGD adversarial training), trades, cutout or dropout")
    p.add_argument("--dataset", default=DEFAULT_INPUT_SPACE, choices=("fashion-mnist", "cifar10"),
                   help="fashion-mnist trains the small CNN, cifar10 a ResNet-18 (default %(default)s)")
    add_data_dir(p, "CIFAR-10: cifar-10-batches-py or its parent")
    p.add_argument("--name", help="model name (default: fmnist-<recipe> or cifar10-<recipe>)")
    add_out_dir(p, zoo.ZOO_DIR, "folder for weights and card")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training set (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=128, help="training images per batch (default %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="peak learning rate of Adam with a one-cycle schedule (default %(default)g)")
    add_seed(p)
    p.add_argument("--eps", type=float, default=ROBUST_EPS, help="training eps for pgd-at and trades")
    p.add_argument("--attack-steps", type=int, default=7,
                   help="PGD steps of the training attack of pgd-at and trades, step size 2.5 eps / steps "
                        "(default %(default)s)")
    p.add_argument("--beta", type=float, default=6.0, help="TRADES beta")
    p.add_argument("--dropout", type=float, default=0.3, help="dropout probability of the dropout recipe")
    p.add_argument("--limit", type=int, help="train on the first N images only (for quick trials)")
    p.add_argument("--eval-limit", type=int, help="evaluate on the first N test images only")
    p.add_argument("--checkpoint", help="checkpoint file; training resumes from it (default: <out>/<name>.ckpt)")
    add_threads(p)
    add_device(p)
    p.set_defaults(run=run)


def run(args) -> int:
    apply_threads(args)
    device = resolve_device(args.device)
    if args.recipe == "dropout" and args.dataset != "fashion-mnist":
        raise CommandError("the dropout recipe builds the Fashion-MNIST small-cnn; use --dataset fashion-mnist")
    prefix = "fmnist" if args.dataset == "fashion-mnist" else "cifar10"
    name = args.name or f"{prefix}-{args.recipe}"
    out = Path(args.out)
    writable_path(out / f"{name}.json")
    checkpoint = Path(args.checkpoint) if args.checkpoint else out / f"{name}.ckpt"
    train_set = load_dataset(args.dataset, "train", args.data_dir)
    test_set = load_dataset(args.dataset, "test", args.data_dir)
    if args.limit:
        train_set = train_set.subset(args.limit)
    if args.eval_limit:
        test_set = test_set.subset(args.eval_limit)
    channels, size = train_set.images.shape[1], train_set.images.shape[-1]
    if args.dataset == "fashion-mnist":
        architecture, arch_kwargs = "small-cnn", ({"dropout": args.dropout} if args.recipe == "dropout" else {})
    else:
        architecture, arch_kwargs = "resnet18", {"in_channels": channels}
    torch.manual_seed(args.seed)  # weight initialisation only; all sampling uses seeded generators
    model = build(architecture, **arch_kwargs)
    cfg = TrainConfig(recipe=args.recipe, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      seed=args.seed, eps=args.eps, attack_steps=args.attack_steps, beta=args.beta,
                      dropout=args.dropout if args.recipe == "dropout" else 0.0,
                      attack_step_size=2.5 * args.eps / args.attack_steps)
    record = train(model, train_set, cfg, checkpoint, TerminalBar(f"train {name}"), device)
    result = evaluate(model, test_set, [ROBUST_EPS], steps=20, name=name, device=device,
                      progress=TerminalBar(f"evaluate {name}"))
    meta = {
        "name": name,
        "description": DESCRIPTIONS[args.recipe],
        "architecture": architecture,
        "arch_kwargs": arch_kwargs,
        "dataset": args.dataset,
        "classes": list(train_set.classes),
        "input": {"shape": [channels, size, size], "range": [0.0, 1.0], "normalization": "inside the model"},
        "training": {
            "recipe": args.recipe,
            "command": command_line(args),
            "seed": args.seed, "epochs": args.epochs, "train_images": len(train_set),
            "wall_time_s": record["wall_time_s"], "machine": record["machine"], "config": record["config"],
        },
        "evaluation": {
            "clean_accuracy": result.clean_accuracy, "pgd20_accuracy": result.robust_accuracy[0],
            "eps": ROBUST_EPS, "n_images": result.n_images, "split": "test",
            "protocol": result.protocol, "wall_time_s": result.wall_time_s,
            "machine": machine_description(device),
        },
    }
    if input_space(args.dataset).has_labelled_gallery:   # the reference accuracies are measured on that gallery
        meta["evaluation"].update(zoo.reference_accuracies(model, args.data_dir))
    zoo.save(model.cpu(), meta, out)
    print(f"{name}: clean {100 * result.clean_accuracy:.2f}%  PGD-20 (eps {ROBUST_EPS}) "
          f"{100 * result.robust_accuracy[0]:.2f}%  -> {out / (name + '.json')}")
    return 0
