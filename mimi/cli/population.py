"""``mimi population --models NAME[,NAME...]``: the default view's order profile averaged over the gallery.

For each model: PGD and the clean + adversarial order profile with the dashboard's default settings
(:data:`mimi.analysis.DEFAULTS`) on each chosen gallery image, averaged per order with the SE across
images (:func:`mimi.batch.population.gallery_profile`), written to ``<out>/<model>.json``: the faint
"typical image" reference of the dashboard's single-image charts.
"""

from __future__ import annotations

from mimi.batch.population import POPULATION_DIR, gallery_profile, reference_path
from mimi.cli.common import (add_device, add_gallery_images, add_models, add_out_dir, add_seed, add_threads,
                             add_zoo_dir, apply_threads, command_line, model_names, parse_images, resolve_device,
                             resolve_zoo_dir, writable_path)
from mimi.core.progress import TerminalBar
from mimi.models import zoo


def register(sub) -> None:
    p = sub.add_parser("population", help="the default view averaged over the gallery (the dashboard's reference)",
                       description="For each model, PGD and the clean + adversarial order profile with the dashboard's "
                                   "default settings on each gallery image, averaged per order with the SE across "
                                   "images; writes OUT/<model>.json.")
    add_models(p, registered=False)
    add_gallery_images(p)
    add_out_dir(p, POPULATION_DIR)
    add_seed(p, "gallery index")
    add_zoo_dir(p)
    add_threads(p)
    add_device(p)
    p.set_defaults(run=run)


def run(args) -> int:
    apply_threads(args)
    names = model_names(args, registered=False)
    indices = parse_images(args.images)
    paths = {name: writable_path(reference_path(name, args.out)) for name in names}  # before any long work
    device = resolve_device(args.device)
    command = command_line(args)
    for name in names:
        model, _ = zoo.load(name, device, zoo_dir=resolve_zoo_dir(args))
        result = gallery_profile(model, images=indices, model_name=name, seed=args.seed, device=device,
                                 progress=TerminalBar(f"population {name}"))
        result.params["command"] = command
        result.to_json(paths[name])
        print(f"{name}: {result.count} images ({result.selection}), {result.forward_passes:,} forward passes in "
              f"{result.wall_time_s:.0f} s; clean accuracy {result.clean_accuracy:.0%}, attack success "
              f"{result.attack_success:.0%}; wrote {paths[name]}")
    return 0
