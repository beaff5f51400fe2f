"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import torch

from mimi.analysis.gallery import balanced_indices
from mimi.attacks.base import DEFAULT_EPS, DEFAULT_STEPS, NORMS
from mimi.attacks.landing import DEFAULT_TOLERANCE, PAPER_PRESET, STOP_RULES
from mimi.cli import CommandError
from mimi.data.datasets import DATA_DIR_ENV, DEFAULT_FMNIST_DIR
from mimi.models import zoo

GALLERY_SIZE = 100


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")


def apply_threads(args) -> None:
    """``torch.set_num_threads(--threads)`` when the option was given."""
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise CommandError(f"unknown device {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda asked for, but no CUDA GPU is available")
    return device


def writable_path(path: str | Path) -> Path:
    """Create the parent folder of ``path`` and check it is writable before long work starts."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".mimi-write-test-{path.name}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CommandError(f"cannot write to {path.parent}: {exc.strerror or exc}") from exc
    return path


def optional_writable_path(path: str | Path | None) -> Path | None:
    """:func:`writable_path` of an optional output (``--json OUT``, ``--html OUT``); None when not given."""
    return writable_path(path) if path else None


def add_json_out(parser: argparse.ArgumentParser, what: str) -> None:
    """``--json OUT``: write ``what`` (e.g. "the ImageReport") as JSON."""
    parser.add_argument("--json", metavar="OUT", help=f"write {what} as JSON")


def save_json(result, out: Path | None) -> None:
    """``result.to_json(out)`` and say so, when ``--json OUT`` was given."""
    if out is not None:
        result.to_json(out)
        print(f"wrote {out}")


def add_out_dir(parser: argparse.ArgumentParser, default: str | Path | None, what: str = "output folder") -> None:
    """``--out FOLDER``: ``what``, defaulting to ``default`` (required when None)."""
    if default is None:
        parser.add_argument("--out", required=True, help=what)
    else:
        parser.add_argument("--out", default=str(default), help=f"{what} (default %(default)s)")


def add_seed(parser: argparse.ArgumentParser, drawn_from: str | None = None) -> None:
    """``--seed`` (default 0); ``drawn_from`` names what each image's seed is drawn from along with it."""
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed (default %(default)s)" if drawn_from is None
                        else f"per-image seeds are drawn from (seed, {drawn_from})")


def command_line(args) -> str:
    """The command as typed (``mimi`` and its arguments, shell-quoted), for result files and model cards."""
    return shlex.join(["mimi", *getattr(args, "argv", [])])


def add_zoo_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zoo-dir", help="folder of model cards and weights (default: the shipped zoo)")


def resolve_zoo_dir(args) -> Path:
    """``--zoo-dir``, else the shipped zoo."""
    return Path(args.zoo_dir) if args.zoo_dir else zoo.ZOO_DIR


def add_models(parser: argparse.ArgumentParser, registered: bool = True) -> None:
    """``--models NAME,...|all`` (``all``: the shipped zoo's only unless ``registered``)."""
    parser.add_argument("--models", required=True, help="comma-separated model names (see `mimi zoo`), or 'all'"
                                                        + ("" if registered else " (the shipped zoo's)"))


def model_names(args, registered: bool = True) -> list[str]:
    """The models of ``--models`` in the zoo of ``--zoo-dir``, every one checked to exist; ``all``: the zoo's
    models (with the registered ones when ``registered``)."""
    zoo_dir = resolve_zoo_dir(args)
    available = zoo.names(zoo_dir)
    if args.models.strip() == "all":
        names = zoo.names(zoo_dir, registered=registered)
    else:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        raise CommandError("--models is empty")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise CommandError(f"unknown model {unknown[0]!r}; the zoo has: {', '.join(available) or '(nothing)'}")
    return names


def add_gallery_images(parser: argparse.ArgumentParser) -> None:
    """``--images``: which gallery images, read by :func:`parse_images`."""
    parser.add_argument("--images", help="a count N (N images taken one class at a time; 50 = the first 5 of each "
                                         f"class) or indices and ranges such as 0-99 (default: all {GALLERY_SIZE})")


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


def add_data_dir(parser: argparse.ArgumentParser, other: str) -> None:
    """``--data-dir``: the Fashion-MNIST folder and its default, then ``other`` (what else the folder may be)."""
    parser.add_argument("--data-dir", help=f"Fashion-MNIST folder (default ${DATA_DIR_ENV} or {DEFAULT_FMNIST_DIR}); "
                                           + other)


def add_attack_options(parser: argparse.ArgumentParser, eps: float | None = DEFAULT_EPS,
                       eps_help: str = "L-inf or L2 radius in pixel units (default %(default)s)",
                       steps: int = DEFAULT_STEPS,
                       step_size_help: str = "PGD step size (default 2.5 eps / steps)") -> None:
    """The attack's budget: ``--eps --steps --step-size --norm --restarts``, read by :func:`attack_from_args`."""
    parser.add_argument("--eps", type=float, default=eps, help=eps_help)
    parser.add_argument("--steps", type=int, default=steps, help="PGD steps (default %(default)s)")
    parser.add_argument("--step-size", type=float, help=step_size_help)
    parser.add_argument("--norm", default="linf", choices=NORMS,
                        help="linf bounds every pixel's change by eps, l2 the length of the whole change "
                             "(default %(default)s)")
    parser.add_argument("--restarts", type=int, default=1, help="PGD random restarts, best per image "
                                                                "(default %(default)s)")


def add_stop_options(parser: argparse.ArgumentParser) -> None:
    """Equal strength: ``--stop-utility --tolerance --stop-rule --no-random-start``, read by :func:`attack_from_args`."""
    parser.add_argument("--stop-utility", type=float, metavar="U",
                        help="equal strength: stop each image once a gradient step lowers its true class's score by U "
                             "and land within --tolerance above U (images that cannot are listed as not landed)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="width of the landing band [U, U + tol] (default %(default)s)")
    parser.add_argument("--stop-rule", choices=STOP_RULES, default="utility",
                        help="utility: the score is the value function v (default); paper: the released code's "
                             "protocol, the true class's logit once misclassified, starting at x")
    parser.add_argument("--no-random-start", dest="random_start", action="store_false",
                        help="start PGD at x instead of a uniform draw in the eps-ball")


def attack_from_args(args) -> dict:
    """The options of :func:`add_attack_options` (and of :func:`add_stop_options` where the command has them) as
    keyword arguments of an attack; ``--stop-rule paper`` is :data:`~mimi.attacks.landing.PAPER_PRESET`. (The gallery
    studies' attack, DEFAULTS' updated with a dict, is :func:`mimi.analysis.gallery.attack_settings`.)"""
    settings = dict(eps=args.eps, steps=args.steps, step_size=args.step_size, norm=args.norm, restarts=args.restarts)
    if hasattr(args, "stop_utility"):
        settings.update(stop_utility=args.stop_utility, tolerance=args.tolerance, stop_rule=args.stop_rule,
                        random_start=args.random_start)
        if args.stop_rule == "paper":
            settings.update(PAPER_PRESET)
    return settings
