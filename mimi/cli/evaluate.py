"""``mimi evaluate --model NAME``: clean and robust accuracy on the Fashion-MNIST test set.

Robust accuracy under PGD (default: L-inf, eps 0.1, 20 steps of 2.5 * eps / 20, random start,
the zoo cards' protocol), FGSM or FGSM with random start; ``--sweep`` gives a robustness curve
over several eps; ``--update-card`` writes the measured numbers into the model's zoo card.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mimi import zoo
from mimi.attacks.base import NORMS, check_eps, check_step_size, check_steps
from mimi.cli import CommandError
from mimi.cli.common import add_device, resolve_device, writable_path
from mimi.data import load_fashion_mnist, load_gallery
from mimi.evaluation import EVAL_ATTACKS, AccuracyResult, evaluate
from mimi.progress import TerminalBar

CARD_EPS = 0.1
CARD_STEPS = 20


def _eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CommandError(f"--sweep takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise CommandError(f"--sweep takes comma-separated numbers, got {text!r}")
    return values


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="clean and robust accuracy of a zoo model",
                       description="Clean and robust accuracy of a zoo model on the Fashion-MNIST test set.")
    p.add_argument("--model", required=True, help="zoo model name (see `mimi zoo`)")
    p.add_argument("--attack", default="pgd", choices=EVAL_ATTACKS,
                   help="pgd, fgsm, or fgsm-rs (FGSM with random start, step 1.25*eps)")
    p.add_argument("--eps", type=float, default=CARD_EPS, help="L-inf or L2 radius in pixel units (default 0.1)")
    p.add_argument("--steps", type=int, default=CARD_STEPS, help="PGD steps (default 20)")
    p.add_argument("--step-size", type=float, help="step size (default: PGD 2.5*eps/steps, FGSM eps)")
    p.add_argument("--norm", default="linf", choices=NORMS)
    p.add_argument("--restarts", type=int, default=1, help="PGD random restarts (best per image)")
    p.add_argument("--no-random-start", action="store_true", help="PGD from x itself")
    p.add_argument("--sweep", metavar="EPS,EPS,...", help="robustness curve: evaluate at each eps (overrides --eps)")
    p.add_argument("--limit", type=int, help="only the first N test images")
    p.add_argument("--gallery", action="store_true", help="the 100 shipped gallery images instead of the test set")
    p.add_argument("--data-dir", help="Fashion-MNIST folder (default $MIMI_DATA_DIR or /usr/share/datasets/fashion-mnist)")
    p.add_argument("--batch-size", type=int, default=200, help="images per batch (the progress bar moves per batch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="OUT", help="write the AccuracyResult as JSON")
    p.add_argument("--update-card", action="store_true",
                   help="write the numbers into the model's zoo card (needs the card protocol on the full test set)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    add_device(p)
    p.set_defaults(run=run)


def _check_card_protocol(args, eps_list: list[float]) -> None:
    """--update-card records only the cards' protocol: PGD-20, L-inf, default step, 1 restart, random start."""
    problems = []
    if args.gallery or args.limit:
        problems.append("the full test set (no --limit/--gallery)")
    if (args.attack, args.norm, args.steps, args.step_size, args.restarts, args.no_random_start) != \
            ("pgd", "linf", CARD_STEPS, None, 1, False):
        problems.append(f"PGD-{CARD_STEPS} L-inf with the default step, 1 restart and random start")
    if not any(abs(e - CARD_EPS) < 1e-12 for e in eps_list):
        problems.append(f"eps {CARD_EPS} among the evaluated eps")
    if problems:
        raise CommandError("--update-card records the zoo cards' protocol; it needs " + " and ".join(problems))


def update_card(meta: dict, result: AccuracyResult, machine: str, zoo_dir: Path) -> Path:
    """Write clean and PGD-20 accuracy (and the robustness curve when several eps) into a card."""
    evaluation = meta.setdefault("evaluation", {})
    evaluation.update({
        "clean_accuracy": result.clean_accuracy, "pgd20_accuracy": result.robust_at(CARD_EPS),
        "eps": CARD_EPS, "n_images": result.n_images, "split": "test", "protocol": result.protocol,
        "wall_time_s": result.wall_time_s, "machine": machine,
    })
    if len(result.eps) > 1:
        evaluation["robustness_curve"] = {"eps": result.eps, "accuracy": result.robust_accuracy,
                                          "protocol": result.protocol}
    return zoo.write_card(meta, zoo_dir)


def run(args) -> int:
    from mimi.training import machine_description

    if args.threads:
        torch.set_num_threads(args.threads)
    eps_list = _eps_list(args.sweep) if args.sweep else [args.eps]
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit must be >= 1, got {args.limit}")
    # Check every parameter before loading anything, so that mistakes fail fast.
    for e in eps_list:
        check_eps(e)
    check_steps(args.steps)
    check_steps(args.restarts, "restarts")
    check_steps(args.batch_size, "batch_size")
    check_step_size(args.step_size)
    if args.update_card:
        _check_card_protocol(args, eps_list)
    out = writable_path(args.json) if args.json else None
    device = resolve_device(args.device)
    zoo_dir = zoo.ZOO_DIR
    model, meta = zoo.load(args.model, device, zoo_dir=zoo_dir)
    if args.gallery:
        data, data_name = load_gallery(), "gallery (100 shipped test images)"
    else:
        data = load_fashion_mnist("test", args.data_dir)
        data_name = "fashion-mnist test"
        if args.limit and args.limit < len(data):
            data, data_name = data.subset(args.limit), f"fashion-mnist test[:{args.limit}]"
    result = evaluate(model, data, eps_list, steps=args.steps, step_size=args.step_size, norm=args.norm,
                      restarts=args.restarts, random_start=not args.no_random_start,
                      batch_size=args.batch_size, seed=args.seed, name=args.model,
                      progress=TerminalBar(f"evaluate {args.model}"), device=device, attack=args.attack,
                      data_name=data_name)
    print(describe(result))
    if out is not None:
        result.to_json(out)
        print(f"wrote {out}")
    if args.update_card:
        path = update_card(meta, result, machine_description(device), zoo_dir)
        print(f"updated {path}")
    return 0


def describe(result: AccuracyResult) -> str:
    """The result as a short table: clean accuracy, then robust accuracy per eps."""
    p = result.protocol
    if p["attack"] == "pgd":
        attack = (f"PGD-{p['steps']} {p['norm']}, step {p['step_size']}, "
                  f"{'random start' if p['random_start'] else 'no random start'}, {p['restarts']} restart(s)")
    else:
        attack = f"{p['attack'].upper()} {p['norm']}, step {p['step_size']}"
    lines = [f"{result.model} on {result.data} ({result.n_images} images), {attack}, seed {p['seed']}",
             f"  clean        {100 * result.clean_accuracy:6.2f}%"]
    lines += [f"  eps {e:<8g} {100 * a:6.2f}%" for e, a in zip(result.eps, result.robust_accuracy)]
    return "\n".join(lines)
