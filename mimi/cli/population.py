"""``mimi population --models NAME[,NAME...]``: the default view's order profile averaged over the gallery.

For each model: PGD and the clean + adversarial order profile with the dashboard's default settings
(:data:`mimi.analysis.DEFAULTS`) on each chosen gallery image, averaged per order with the SE across
images (:mod:`mimi.batch.population`), written to ``<out>/<model>.json``: the faint "typical image" reference of
the dashboard's single-image charts. The images run as jobs of the job engine (:mod:`mimi.batch.gallery`):
resumable with ``--work``, in-process or on Ray.
"""

from __future__ import annotations

from mimi.batch.population import POPULATION_DIR, reference_path
from mimi.cli.common import (add_device, add_gallery_images, add_models, add_out_dir, add_seed, add_threads,
                             add_zoo_dir, apply_threads, command_line, model_names, parse_images, resolve_device,
                             resolve_zoo_dir, writable_path)
from mimi.cli.engine import add_work_options, run_gallery


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
    add_work_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    apply_threads(args)
    names = model_names(args, registered=False)
    paths = {name: writable_path(reference_path(name, args.out)) for name in names}  # before any long work
    command = command_line(args)

    def write(name, result) -> None:
        result.params["command"] = command
        result.to_json(paths[name])
        print(f"{name}: {result.count} images ({result.selection}), {result.forward_passes:,} forward passes in "
              f"{result.wall_time_s:.0f} s; clean accuracy {result.clean_accuracy:.0%}, attack success "
              f"{result.attack_success:.0%}; wrote {paths[name]}")

    done = run_gallery(args, "population", names, parse_images(args.images), seed=args.seed,
                       zoo_dir=resolve_zoo_dir(args), device=resolve_device(args.device), command=command, write=write)
    return 0 if done else 1
