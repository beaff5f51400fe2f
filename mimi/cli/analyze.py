"""``mimi analyze``: order profile and Shapley map of one image, optionally before and after PGD.

Writes one :class:`mimi.analysis.ImageReport` (JSON): the prediction, the clean (and
adversarial) order profile with standard errors, the attacking utility by order ΔJ, the
Shapley map, and the attack's outcome.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mimi.analysis import DEFAULTS, analyze_image, default_pair_count
from mimi.analysis.budget import check_budget
from mimi.analysis.requests import AttackRequest, ProfileRequest, ShapleyRequest
from mimi.cli import CommandError
from mimi.cli.common import (add_attack_options, add_device, add_json_out, add_seed, add_stop_options, add_zoo_dir,
                             attack_from_args, optional_writable_path, resolve_device, resolve_zoo_dir, save_json)
from mimi.core.compute import PRECISIONS
from mimi.core.players import BASELINES
from mimi.core.progress import TerminalBar
from mimi.core.values import VALUE_FUNCTIONS
from mimi.data.images import UploadError, decode_upload, gallery_images
from mimi.data.input_spaces import InputSpace, card_input_space
from mimi.models import zoo


def register(sub) -> None:
    p = sub.add_parser("analyze", help="multi-order interactions of one image (and its adversarial version)")
    p.add_argument("--model", required=True, help="zoo or registered model name (see `mimi models list`)")
    add_zoo_dir(p)
    p.add_argument("--image", required=True, help="an image file (PNG, JPEG, WebP, BMP), prepared as the model's "
                                                  "input space says, or gallery:K (the input space's gallery: "
                                                  "Fashion-MNIST K = 0..99, natural photos K = 0..5)")
    p.add_argument("--label", type=int, help="true class of an image file (gallery images know theirs); "
                                              "default: the model's prediction")
    p.add_argument("--grid", help="ROWSxCOLS cells (default: the model's input space's: Fashion-MNIST "
                                 f"{DEFAULTS['grid']}, CIFAR-10 8x8, ImageNet 16x16)")
    p.add_argument("--orders", help="comma-separated orders m (context sizes 0..n-2)")
    p.add_argument("--ratios", help="comma-separated orders as fractions of n-2 (default: the paper's "
                                    "0.1..0.9, 0.95, 1)")
    p.add_argument("--pairs", default=DEFAULTS["pairs"], choices=("neighbors", "all"),
                   help="pair set of the profile: 8-neighbour cells or all pairs (default %(default)s)")
    p.add_argument("--pair-count", type=int,
                   help=f"pairs drawn at random from the pair set (default {DEFAULTS['pair_count']}, or every pair "
                        f"of a smaller set; 0 = all of them); the profile estimates the mean over the whole set and "
                        f"its SE covers the draw")
    p.add_argument("--samples", type=int, default=DEFAULTS["samples"],
                   help="iid units per pair and order, >= 2 (default %(default)s)")
    p.add_argument("--contexts", type=int, default=DEFAULTS["contexts"],
                   help="contexts per pair in each unit (default %(default)s; 0 = a whole block design): each pair "
                        "gets samples x contexts contexts per order, the paper's unit of effort (it uses 100)")
    p.add_argument("--max-se", type=float, help="target precision: add independent replicates until every SE of the "
                                                "profile is at most this (or --max-passes is reached)")
    p.add_argument("--max-passes", type=int, help="forward-pass budget of --max-se")
    p.add_argument("--time-budget", type=time_budget, metavar="SECONDS",
                   help="answer within this many seconds: the Shapley map gets at most a quarter, the profile runs "
                        "rounds of the design above (shrunk when one round takes over a quarter of what is left, or 8 s) "
                        "until the time is spent or --max-se is reached; too small a budget says how long the "
                        "smallest honest answer takes")
    p.add_argument("--pilot", type=int, default=DEFAULTS["pilot"],
                   help="contexts per pair and order for a Neyman-allocation pilot (0 = none, else >= 2)")
    p.add_argument("--coverage", type=int, default=DEFAULTS["coverage"],
                   help="how often each unit's block design covers every cell: 1 the smallest units (default), "
                        "4 (the library's) about 20%% fewer forward passes for a given SE")
    p.add_argument("--shapley-samples", type=int, default=DEFAULTS["shapley_samples"],
                   help="antithetic permutation pairs for the Shapley map (default %(default)s; 0 skips it)")
    add_seed(p)
    p.add_argument("--baseline", default="mean", choices=BASELINES,
                   help="what an absent cell shows: mean (the dataset mean, 0 after normalization), zero or blur "
                        "(default %(default)s)")
    p.add_argument("--value", default="log-odds", choices=VALUE_FUNCTIONS,
                   help="value function v(S) of the target class: log-odds (the paper's formula), log-softmax "
                        "(its released code) or logit (default %(default)s)")
    p.add_argument("--target", default="label", help="label, predicted or a class index")
    p.add_argument("--attack", choices=("pgd",), help="attack the image and analyze both versions")
    add_attack_options(p)
    add_stop_options(p)
    p.add_argument("--batch-size", type=int, help="images per forward pass (default: a quarter of the free memory "
                                                   "over what one image takes)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto (default): bf16 autocast on a CUDA GPU, float32 elsewhere")
    add_json_out(p, "the ImageReport")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(p)
    p.set_defaults(run=run)


def time_budget(text: str) -> float:
    """A time budget in seconds: a number > 0 (argparse says what was wrong otherwise)."""
    try:
        return check_budget(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_list(text: str | None, kind, option: str):
    if text is None:
        return None
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise CommandError(f"{option} takes comma-separated numbers, got {text!r}") from exc
    if not values:
        raise CommandError(f"{option} is empty")
    return values


def parse_target(text: str):
    if text in ("label", "predicted"):
        return text
    try:
        return int(text)
    except ValueError as exc:
        raise CommandError(f"--target must be label, predicted or a class index, got {text!r}") from exc


def load_image(spec: str, space: InputSpace) -> tuple[torch.Tensor, int | None, str]:
    """(image (C, size, size) in [0, 1] of input space ``space``, its label if known, a description) from a path
    or gallery:K (the input space's gallery, :func:`mimi.data.images.gallery_images`)."""
    if spec.startswith("gallery:"):
        items = gallery_images(space)
        try:
            index = int(spec.split(":", 1)[1])
        except ValueError as exc:
            raise CommandError(f"bad gallery image {spec!r}: write gallery:K with K in 0..{len(items) - 1}") from exc
        if not 0 <= index < len(items):
            raise CommandError(f"gallery image {index} does not exist: K must be in 0..{len(items) - 1} "
                               f"(the {space.title} gallery)")
        return items[index].image, items[index].label, f"{spec} ({items[index].title})"
    path = Path(spec)
    if not path.is_file():
        raise CommandError(f"image file {spec} does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read image file {spec}: {exc.strerror or exc}") from exc
    try:
        decoded = decode_upload(data, path.name, space=space)
    except UploadError as exc:
        raise CommandError(f"cannot use image file {spec}: {exc}") from exc
    for note in decoded.notes:
        print(f"mimi analyze: {note}", file=sys.stderr)
    return decoded.tensor, None, spec


class StageBars:
    """A ProgressFn that starts a fresh :class:`TerminalBar` whenever the stage (message) changes."""

    def __init__(self, label: str) -> None:
        self.label, self.stage, self.bar = label, None, None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if message != self.stage or self.bar is None:
            self.stage, self.bar = message, TerminalBar(f"{self.label}: {message}" if message else self.label)
        self.bar(done, total)


def run(args) -> int:
    out = optional_writable_path(args.json)
    device = resolve_device(args.device)
    model, card = zoo.load(args.model, device, zoo_dir=resolve_zoo_dir(args))
    space = card_input_space(card)
    image, label, source = load_image(args.image, space)
    if args.label is not None:
        label = args.label
    progress = None if args.quiet else StageBars("analyze")
    grid = args.grid or space.grid
    pair_count = (default_pair_count(grid, args.pairs, DEFAULTS["pair_count"]) if args.pair_count is None
                  else args.pair_count or None)
    game = dict(grid=grid, baseline=args.baseline, value=args.value)
    orders, ratios = parse_list(args.orders, int, "--orders"), parse_list(args.ratios, float, "--ratios")
    profile = ProfileRequest(**game, orders=None if orders is None else tuple(orders),
                             ratios=None if ratios is None else tuple(ratios), pairs=args.pairs, pair_count=pair_count,
                             samples=args.samples, contexts=args.contexts or None, coverage=args.coverage,
                             seed=args.seed)
    shapley = ShapleyRequest(**game, samples=args.shapley_samples, seed=args.seed) if args.shapley_samples else None
    attack = AttackRequest(**attack_from_args(args), value=args.value, seed=args.seed) if args.attack else None
    report = analyze_image(
        model, image, label, profile=profile, shapley=shapley, attack=attack, target=parse_target(args.target),
        pilot=args.pilot, max_se=args.max_se, max_passes=args.max_passes, max_seconds=args.time_budget,
        device=device, batch_size=args.batch_size, precision=args.precision, progress=progress, model_name=args.model,
        source=source, classes=card.get("classes"))
    print(report.summary())
    save_json(report, out)
    return 0
