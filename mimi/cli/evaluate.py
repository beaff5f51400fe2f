"""``mimi evaluate --model NAME``: clean and robust accuracy on the test set of the model's dataset.

Data by the model's input space: Fashion-MNIST's test set (or the shipped gallery); CIFAR-10 from a
local folder (torchvision's ``cifar-10-batches-py``, or class folders); ImageNet from a local folder of
class folders (:func:`mimi.data.images.load_image_folder`). Robust accuracy under PGD (default: L-inf, the
input space's eps (Fashion-MNIST 0.1, CIFAR-10 8/255, ImageNet 4/255), 20 steps of 2.5 * eps / 20, random
start, the zoo cards' protocol), FGSM or FGSM with random start; ``--sweep`` gives a robustness curve
over several eps; ``--update-card`` writes the measured numbers into the model's card: a zoo card only
under the cards' protocol on the full test set, a registered model's card with whatever was measured
(the protocol, the data and the image count are recorded with it).
"""

from __future__ import annotations

from pathlib import Path

import torch

from mimi.attacks.base import check_eps, check_step_size, check_steps
from mimi.cli import CommandError
from mimi.cli.common import (add_attack_options, add_data_dir, add_device, add_json_out, add_seed, add_threads,
                             apply_threads, optional_writable_path, resolve_device, save_json)
from mimi.core.progress import TerminalBar
from mimi.data.datasets import ImageSet, load_cifar10, load_fashion_mnist, load_gallery
from mimi.data.images import gallery_images, load_image_folder
from mimi.data.input_spaces import InputSpace, card_input_space
from mimi.models import registry, zoo
from mimi.models.evaluation import EVAL_ATTACKS, AccuracyResult, evaluate
from mimi.models.training import machine_description

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
    p.add_argument("--model", required=True, help="zoo or registered model name (see `mimi models list`)")
    p.add_argument("--attack", default="pgd", choices=EVAL_ATTACKS,
                   help="pgd, fgsm, or fgsm-rs (FGSM with random start, step 1.25*eps)")
    add_attack_options(p, eps=None, eps_help="L-inf or L2 radius in pixel units (default: the input space's, "
                                             "Fashion-MNIST 0.1, CIFAR-10 8/255, ImageNet 4/255)",
                       steps=CARD_STEPS, step_size_help="step size (default: PGD 2.5*eps/steps, FGSM eps)")
    p.add_argument("--no-random-start", action="store_true", help="PGD from x itself")
    p.add_argument("--sweep", metavar="EPS,EPS,...", help="robustness curve: evaluate at each eps (overrides --eps)")
    p.add_argument("--limit", type=int, help="only the first N test images")
    p.add_argument("--gallery", action="store_true", help="the shipped gallery images with a known class instead "
                                                          "of the test set")
    add_data_dir(p, "CIFAR-10: cifar-10-batches-py or class folders; ImageNet: class folders (named by index, "
                    "class name or wnid)")
    p.add_argument("--batch-size", type=int, default=200, help="images per batch (the progress bar moves per batch)")
    add_seed(p)
    add_json_out(p, "the AccuracyResult")
    p.add_argument("--update-card", action="store_true",
                   help="write the numbers into the model's card (a zoo card needs the card protocol on the full "
                        "test set; a registered model records what was measured)")
    add_threads(p)
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


def load_data(args, space: InputSpace) -> tuple[ImageSet, str]:
    """The images to evaluate on and their description, by the model's input space."""
    if args.gallery:
        if space.has_labelled_gallery:
            return load_gallery(), "gallery (100 shipped test images)"
        items = [item for item in gallery_images(space) if item.label is not None]
        data = ImageSet(torch.stack([item.image for item in items]), torch.tensor([item.label for item in items]),
                        space.classes)
        return data, f"{space.title} gallery ({len(items)} labelled photos)"
    if space.name == "fashion-mnist":
        data, name = load_fashion_mnist("test", args.data_dir), "fashion-mnist test"
    elif not args.data_dir:
        raise CommandError(f"{space.title} images are not shipped: pass --data-dir with a local test set "
                           f"(or --gallery for the shipped photos)")
    elif space.name == "cifar10" and not any(Path(args.data_dir).glob("**/test_batch")):
        return load_image_folder(args.data_dir, space, args.limit), f"{space.title} folder {args.data_dir}"
    elif space.name == "cifar10":
        data, name = load_cifar10(args.data_dir, "test"), "cifar10 test"
    else:
        data = load_image_folder(args.data_dir, space, args.limit)
        return data, f"{space.title} folder {args.data_dir}" + (f"[:{args.limit}]" if args.limit else "")
    if args.limit and args.limit < len(data):
        data, name = data.subset(args.limit), f"{name}[:{args.limit}]"
    return data, name


def registered_evaluation(result: AccuracyResult, machine: str) -> dict:
    """What a registered model's card records of a run: every number with the data and protocol it needs."""
    return {"clean_accuracy": result.clean_accuracy, "eps": result.eps, "robust_accuracy": result.robust_accuracy,
            "n_images": result.n_images, "data": result.data, "protocol": result.protocol,
            "wall_time_s": result.wall_time_s, "machine": machine}


def run(args) -> int:
    apply_threads(args)
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit must be >= 1, got {args.limit}")
    zoo_dir = zoo.ZOO_DIR
    meta = zoo.card(args.model, zoo_dir)
    registered = "registered" in meta
    space = card_input_space(meta)
    eps_list = _eps_list(args.sweep) if args.sweep else [space.eps if args.eps is None else args.eps]
    # Check every parameter before loading anything, so that mistakes fail fast.
    for e in eps_list:
        check_eps(e)
    check_steps(args.steps)
    check_steps(args.restarts, "restarts")
    check_steps(args.batch_size, "batch_size")
    check_step_size(args.step_size)
    if args.update_card and not registered:
        _check_card_protocol(args, eps_list)
    out = optional_writable_path(args.json)
    device = resolve_device(args.device)
    model, meta = zoo.load(args.model, device, zoo_dir=zoo_dir)
    data, data_name = load_data(args, space)
    result = evaluate(model, data, eps_list, steps=args.steps, step_size=args.step_size, norm=args.norm,
                      restarts=args.restarts, random_start=not args.no_random_start,
                      batch_size=args.batch_size, seed=args.seed, name=args.model,
                      progress=TerminalBar(f"evaluate {args.model}"), device=device, attack=args.attack,
                      data_name=data_name)
    print(describe(result))
    save_json(result, out)
    if args.update_card and registered:
        path = registry.update_evaluation(args.model, registered_evaluation(result, machine_description(device)))
        print(f"updated the card of {args.model} in {path}")
    elif args.update_card:
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
