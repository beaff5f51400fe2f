"""``mimi models list | add | remove | check | convert``: the user's own models, next to the zoo.

``add`` reads the weights file safely (:mod:`mimi.models.checkpoints`: the format is detected from the
content; pickles that need code and TorchScript without ``--trust-code`` are refused), checks it
against the architecture, runs it once and records it in the registry (:mod:`mimi.models.registry`,
``$MIMI_HOME/models.toml``). Every ``--model NAME`` of the CLI, the dashboard and
``mimi.models.zoo.load(NAME)`` then see it.
"""

from __future__ import annotations

import json
import sys

import torch

from mimi.cli import CommandError
from mimi.cli.common import add_device, resolve_device, writable_path
from mimi.core.games import predict
from mimi.data.images import gallery_images
from mimi.data.input_spaces import (DEFAULT_INPUT_SPACE, INPUT_SPACE_NAMES, card_input_space, input_shape, input_space,
                                    read_classes)
from mimi.models import registry, zoo
from mimi.models.checkpoints import FORMATS, MAX_WEIGHTS_BYTES, convert


def register(sub) -> None:
    p = sub.add_parser("models", help="list, register, check and convert models (yours and the zoo's)",
                       description="The zoo plus the models you register, in one namespace: every --model NAME "
                                   "accepts them. The registry is $MIMI_HOME/models.toml (default ~/.mimi).")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    ls = verbs.add_parser("list", help="every model with its dataset, architecture, format and size")
    ls.add_argument("--json", action="store_true", help="print the model cards as JSON")
    ls.set_defaults(run=run_list)

    add = verbs.add_parser("add", help="register a weights file as model NAME")
    add.add_argument("name", help="the new model's name (letters, digits, '-', '_')")
    add.add_argument("--weights", required=True, help="the weights file: .pt/.pth state dict, safetensors, Madry "
                                                      "robustness or RobustBench checkpoint, TorchScript (--trust-code)")
    add_model_options(add)
    add.add_argument("--note", default="", help="a description shown with the model")
    add.add_argument("--trust-code", action="store_true",
                     help="allow a TorchScript archive (--arch torchscript): its code runs when it loads")
    add.add_argument("--replace", action="store_true", help="replace a model registered under this name")
    add.set_defaults(run=run_add)

    rm = verbs.add_parser("remove", help="forget a registered model (its weights file is kept)")
    rm.add_argument("name", help="the registered model's name (see `mimi models list`)")
    rm.set_defaults(run=run_remove)

    check = verbs.add_parser("check", help="load a model and classify a gallery image with it")
    check.add_argument("name", help="a zoo or registered model name (see `mimi models list`)")
    add_device(check)
    check.set_defaults(run=run_check)

    conv = verbs.add_parser("convert", help="rewrite a weights file as plain safetensors, after checking it")
    conv.add_argument("file", help="the weights file to convert")
    conv.add_argument("--to", required=True, metavar="OUT.safetensors", help="where to write")
    add_model_options(conv)
    conv.set_defaults(run=run_convert)


def add_model_options(p) -> None:
    p.add_argument("--arch", required=True,
                   help="architecture: a torchvision classifier (resnet18, wide_resnet50_2, …), cifar-resnet18, "
                        "wrn-28-10 (RobustBench's layouts), small-cnn, zoo:NAME, or torchscript")
    p.add_argument("--dataset", required=True, choices=INPUT_SPACE_NAMES, help="the input space and classes")
    p.add_argument("--mean", nargs="+", help="normalization mean, 1 or C values (default: the checkpoint's, "
                                             "else the dataset's)")
    p.add_argument("--std", nargs="+", help="normalization std, 1 or C values")
    p.add_argument("--classes", metavar="FILE", help="class names, one per line or a JSON list (default: the dataset's)")
    p.add_argument("--max-size", type=float, default=MAX_WEIGHTS_BYTES / 2**30, metavar="GIB",
                   help="refuse weights files larger than this many GiB before reading them (default %(default)g)")


def parse_floats(values: list[str] | None, option: str) -> list[float] | None:
    """``--mean 0.5 0.5 0.5`` or ``--mean 0.5,0.5,0.5``."""
    if values is None:
        return None
    try:
        return [float(v) for text in values for v in text.split(",") if v.strip()]
    except ValueError:
        raise CommandError(f"{option} takes numbers, got {' '.join(values)!r}") from None


def max_bytes(args) -> int:
    if not args.max_size > 0:
        raise CommandError(f"--max-size must be positive, got {args.max_size:g}")
    return int(args.max_size * 2**30)


def _accuracy(card: dict) -> str:
    value = card.get("evaluation", {}).get("clean_accuracy")
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "-"


def run_list(args) -> int:
    broken = registry.problem()
    if broken:
        print(f"mimi models: error: {broken}", file=sys.stderr)
    cards = [zoo.card(name) for name in zoo.names()]
    if args.json:
        print(json.dumps(cards, indent=2))
        return 2 if broken else 0
    print(f"{'model':<20} {'from':<10} {'dataset':<13} {'architecture':<16} {'format':<12} {'parameters':>11} "
          f"{'clean %':>7}")
    for c in cards:
        source = "registry" if "registered" in c else "zoo"
        fmt = c.get("format") or "state-dict"
        params = f"{c['parameters']:,}" if isinstance(c.get("parameters"), int) else "-"
        print(f"{c['name']:<20} {source:<10} {c.get('dataset', DEFAULT_INPUT_SPACE):<13} {c['architecture']:<16} "
              f"{fmt:<12} {params:>11} {_accuracy(c):>7}")
    print(f"registry: {registry.registry_file()}")
    return 2 if broken else 0


def run_add(args) -> int:
    card, loaded = registry.add(
        args.name, args.weights, args.arch, args.dataset, mean=parse_floats(args.mean, "--mean"),
        std=parse_floats(args.std, "--std"), classes_file=args.classes, note=args.note, trust_code=args.trust_code,
        max_bytes=max_bytes(args), replace=args.replace)
    print(f"registered {card['name']}: {card['architecture']} for {card['dataset']} "
          f"({'x'.join(map(str, card['input']['shape']))}, {len(card['classes'])} classes), "
          f"{card['parameters']:,} parameters")
    print(f"  format: {loaded.checkpoint.describe()}")
    print(f"  sha256: {card['sha256']}")
    print(f"  normalization ({card['input']['source']}): mean {card['input']['mean']}, std {card['input']['std']}")
    print(f"  registry: {card['registered']}")
    return 0


def run_remove(args) -> int:
    removed = registry.remove(args.name)
    print(f"removed {args.name} from {registry.registry_file()} (its weights file {removed['weights']} is untouched)")
    return 0


def run_check(args) -> int:
    device = resolve_device(args.device)
    model, card = zoo.load(args.name, device)
    space = card_input_space(card)
    shape = input_shape(card)
    item = next((g for g in gallery_images(space) if g.label is not None), None) or gallery_images(space)[0]
    if tuple(item.image.shape) != shape:
        raise CommandError(f"{args.name} takes {'x'.join(map(str, shape))} inputs; its input space {space.name} "
                           f"gives {'x'.join(map(str, item.image.shape))}")
    predicted, probabilities = predict(model, item.image[None].to(device))
    classes = card["classes"]
    top = torch.from_numpy(probabilities[0]).topk(min(3, len(classes)))
    print(f"{args.name}: {card['architecture']} for {space.title} ({'x'.join(map(str, shape))} in [0, 1], "
          f"normalization inside), {len(classes)} classes")
    if "registered" in card:
        print(f"  weights: {card['source']} ({FORMATS.get(card.get('format'), card.get('format'))}, "
              f"sha256 {card['sha256']} verified)")
    print(f"  parameters: {sum(p.numel() for p in model.parameters()):,}")
    truth = f"true class {classes[item.label]}" if item.label is not None else "no true class"
    print(f"  gallery image '{item.title}' ({truth}): predicted {classes[int(predicted[0])]}; top "
          + ", ".join(f"{classes[int(k)]} {float(p):.1%}" for p, k in zip(top.values, top.indices)))
    return 0


def run_convert(args) -> int:
    if args.arch == "torchscript":
        raise CommandError("a TorchScript archive has no architecture mimi can rebuild; export its state_dict() "
                           "in a trusted session instead")
    out = writable_path(args.to)
    if out.suffix != ".safetensors":
        raise CommandError(f"--to {args.to}: the output is safetensors; name it *.safetensors")
    classes = read_classes(args.classes) if args.classes else None
    loaded = convert(args.file, out, args.arch, input_space(args.dataset), len(classes) if classes else None,
                     mean=parse_floats(args.mean, "--mean"), std=parse_floats(args.std, "--std"),
                     max_bytes=max_bytes(args))
    print(f"read {args.file}: {loaded.checkpoint.describe()}")
    print(f"wrote {out}: {len(loaded.checkpoint.weights)} tensors for {args.arch}, normalization "
          f"({loaded.normalization}) mean {list(loaded.mean)}, std {list(loaded.std)} in its metadata")
    return 0
