"""``mimi population --models NAME[,NAME...]``: the default view's order profile averaged over the gallery.

For each model: PGD and the clean + adversarial order profile with the dashboard's default settings
(:data:`mimi.analysis.DEFAULTS`) on each chosen gallery image, averaged per order with the SE across
images (:func:`mimi.population.gallery_profile`), written to ``<out>/<model>.json``: the faint
"typical image" reference of the dashboard's single-image charts.
"""

from __future__ import annotations

import shlex


from mimi import zoo
from mimi.cli import CommandError
from mimi.cli.common import add_device, add_threads, apply_threads, resolve_device, writable_path
from mimi.population import POPULATION_DIR, balanced_indices, gallery_profile, reference_path
from mimi.progress import TerminalBar

GALLERY_SIZE = 100


def parse_images(text: str | None, total: int = GALLERY_SIZE) -> list[int] | None:
    """None (all images) from None; a count N (N images one class at a time: 50 = the first 5 of each class);
    or indices and ranges ``0-99``, ``0-4,10-14``."""
    if text is None:
        return None
    text = text.strip()
    if text.isdigit():
        count = int(text)
        if not 2 <= count <= total:
            raise CommandError(f"--images {count}: a count must be in 2..{total}")
        return balanced_indices(count, total)
    indices: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                if high < low:
                    raise ValueError
                indices.extend(range(low, high + 1))
            else:
                indices.append(int(part))
        except ValueError:
            raise CommandError(f"--images takes a count (e.g. 50) or indices and ranges (e.g. 0-99 or 0-4,10-14), "
                               f"got {text!r}") from None
    bad = [i for i in indices if not 0 <= i < total]
    if bad:
        raise CommandError(f"--images: gallery image {bad[0]} does not exist (indices 0..{total - 1})")
    if len(set(indices)) != len(indices):
        raise CommandError(f"--images {text!r} names an image twice")
    if len(indices) < 2:
        raise CommandError("--images: the SE across images needs at least 2 images")
    return indices


def register(sub) -> None:
    p = sub.add_parser("population", help="the default view averaged over the gallery (the dashboard's reference)",
                       description="For each model, PGD and the clean + adversarial order profile with the dashboard's "
                                   "default settings on each gallery image, averaged per order with the SE across "
                                   "images; writes OUT/<model>.json.")
    p.add_argument("--models", required=True, help="comma-separated zoo model names (see `mimi zoo`), or 'all' (the shipped zoo's)")
    p.add_argument("--images", help="a count N (N images taken one class at a time; 50 = the first 5 of each class) "
                                    "or indices and ranges such as 0-99 (default: all 100)")
    p.add_argument("--out", default=str(POPULATION_DIR), help="output folder (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="per-image seeds are drawn from (seed, gallery index)")
    p.add_argument("--zoo-dir", help="folder of model cards and weights (default: the shipped zoo)")
    add_threads(p)
    add_device(p)
    p.set_defaults(run=run)


def run(args) -> int:
    apply_threads(args)
    zoo_dir = args.zoo_dir or zoo.ZOO_DIR
    available = zoo.names(zoo_dir)
    names = zoo.names(zoo_dir, registered=False) if args.models.strip() == "all" else [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        raise CommandError("--models is empty")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise CommandError(f"unknown model {unknown[0]!r}; the zoo has: {', '.join(available) or '(nothing)'}")
    indices = parse_images(args.images)
    paths = {name: writable_path(reference_path(name, args.out)) for name in names}  # before any long work
    device = resolve_device(args.device)
    command = "mimi " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []))
    for name in names:
        model, _ = zoo.load(name, device, zoo_dir=zoo_dir)
        result = gallery_profile(model, images=indices, model_name=name, seed=args.seed, device=device,
                                 progress=TerminalBar(f"population {name}"))
        result.params["command"] = command
        result.to_json(paths[name])
        print(f"{name}: {result.count} images ({result.selection}), {result.forward_passes:,} forward passes in "
              f"{result.wall_time_s:.0f} s; clean accuracy {result.clean_accuracy:.0%}, attack success "
              f"{result.attack_success:.0%}; wrote {paths[name]}")
    return 0
