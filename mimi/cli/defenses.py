"""``mimi defenses --models NAME[,NAME...]``: detection, recovery and interaction strength over the gallery.

For each model and each study of ``--only`` (default all three), over the chosen gallery images
(:mod:`mimi.batch.gallery`): ``detection`` (ML-LOO's IQR of leave-one-out attributions and the order-band
scores: ROC, AUC, paired-bootstrap 95% CI), ``recovery`` (the fraction of the attacking utility undone by
restoring the clean pixels of the k cells with the largest Shapley change, vs a random order) and
``strength`` (D^(m) with the per-image interaction strength behind the normalized order profiles).
Writes ``<out>/<study>/<model>.json``, which the /detection, /recovery and /defenses pages read. The images run as
jobs of the job engine (:mod:`mimi.batch.gallery`): resumable with ``--work``, in-process or on Ray.
"""

from __future__ import annotations

from mimi.batch.gallery import DEFENSE_KINDS, DEFENSES_DIR, study_file
from mimi.cli import CommandError
from mimi.cli.common import (add_device, add_gallery_images, add_models, add_out_dir, add_seed, add_threads,
                             add_zoo_dir, apply_threads, command_line, model_names, parse_images, resolve_device,
                             resolve_zoo_dir, writable_path)
from mimi.cli.engine import add_work_options, run_gallery
from mimi.defenses.detection import MAX_BOOTSTRAP
from mimi.defenses.recovery import MAX_RANDOM_ORDERS
from mimi.defenses.strength import order_strength


def register(sub) -> None:
    p = sub.add_parser("defenses", help="detection (ML-LOO), recovery and interaction strength over the gallery",
                       description="Per model, over gallery images: detection of adversarial inputs by ML-LOO and by "
                                   "high- vs low-order interactions (ROC, AUC, bootstrap CI), the recovery curve "
                                   "(fraction of the attacking utility undone by restoring k cells ranked by their "
                                   "Shapley change) and the interaction strength by order; writes "
                                   "OUT/<study>/<model>.json for the dashboard.")
    add_models(p)
    p.add_argument("--only", default=",".join(DEFENSE_KINDS), help="comma-separated studies among "
                                                         f"{', '.join(DEFENSE_KINDS)} (default: all)")
    add_gallery_images(p)
    p.add_argument("--all-images", action="store_true",
                   help="detection: use every image, not only those classified correctly whose attack succeeded")
    p.add_argument("--resamples", type=int, default=2000,
                   help=f"detection: bootstrap resamples, 100..{MAX_BOOTSTRAP} (default %(default)s)")
    p.add_argument("--min-utility", type=float, default=1.0,
                   help="recovery: images whose attacking utility is below this are left out (default %(default)s)")
    p.add_argument("--random-orders", type=int, default=8,
                   help=f"recovery: random cell orders of the baseline curve, 2..{MAX_RANDOM_ORDERS} "
                        "(default %(default)s)")
    add_out_dir(p, DEFENSES_DIR)
    add_seed(p, "gallery index")
    add_zoo_dir(p)
    add_threads(p)
    add_device(p)
    add_work_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    apply_threads(args)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in DEFENSE_KINDS]
    if unknown or not kinds:
        raise CommandError(f"--only {args.only!r}: choose among {', '.join(DEFENSE_KINDS)}")
    if not 100 <= args.resamples <= MAX_BOOTSTRAP:
        raise CommandError(f"--resamples {args.resamples}: must be in 100..{MAX_BOOTSTRAP}")
    if not args.min_utility > 0:
        raise CommandError(f"--min-utility {args.min_utility}: must be > 0")
    if not 2 <= args.random_orders <= MAX_RANDOM_ORDERS:
        raise CommandError(f"--random-orders {args.random_orders}: must be in 2..{MAX_RANDOM_ORDERS}")
    names = model_names(args)
    indices = parse_images(args.images)
    paths = {(kind, name): writable_path(study_file(kind, name, args.out)) for kind in kinds for name in names}
    device = resolve_device(args.device)
    command = command_line(args)
    options = {"detection": {"successful_only": not args.all_images, "resamples": args.resamples},
               "recovery": {"min_utility": args.min_utility, "random_orders": args.random_orders},
               "strength": {}}
    failed = False
    for kind in kinds:
        def write(name, result, kind=kind) -> None:
            result.params["command"] = command
            result.to_json(paths[kind, name])
            print(f"{kind}: {_summary(kind, result, name)} ({result.wall_time_s:.0f} s); wrote {paths[kind, name]}")

        failed |= not run_gallery(args, kind, names, indices, seed=args.seed, zoo_dir=resolve_zoo_dir(args),
                                  device=device, command=command, write=write, **options[kind])
    return 1 if failed else 0


def _summary(kind: str, result, name: str) -> str:
    if kind == "strength":
        return order_strength(result, name).summary()
    return result.summary()
