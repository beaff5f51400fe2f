"""``mimi study run | status | report``: the paper's figures over many images, resumable, on Ray if asked.

``run`` plans one job per (image, model) and runs those without a result in ``--out`` (in-process, or on
Ray with ``--ray [ADDRESS]``); killing it and running the same command again computes only what is
missing. ``status`` says what is done, failed and left; ``report`` prints the three claims with their
verdicts and writes the figures (``--html``, self-contained) and every number (``--json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mimi.analysis import DEFAULTS
from mimi.batch.engine import StudyMismatch, manifest_path, read_manifest, run_study, study_status
from mimi.batch.study.budget import fit_study
from mimi.batch.study.plan import (D_PAIR_COUNT, DEFAULT_COUNT, STUDY_DIR, StudyParams, dataset_images, folder_images,
                                   gallery_images)
from mimi.batch.study.planning import plan_study
from mimi.batch.study.report import build_report
from mimi.cli import CommandError
from mimi.cli.analyze import parse_list, time_budget
from mimi.cli.common import (GALLERY_SIZE, add_attack_options, add_data_dir, add_device, add_json_out, add_models,
                             add_out_dir, add_seed, add_stop_options, add_zoo_dir, attack_from_args, command_line,
                             model_names, optional_writable_path, parse_images, resolve_device, resolve_zoo_dir,
                             save_json, writable_path)
from mimi.cli.engine import add_ray_options
from mimi.core.players import BASELINES
from mimi.core.progress import TerminalBar
from mimi.core.values import VALUE_FUNCTIONS
from mimi.figures.report_page import report_html


def register(sub) -> None:
    p = sub.add_parser("study", help="the paper's figures over many images: run, status, report",
                       description="A study: one job per (image, model), resumable, in-process or on Ray; "
                                   "`mimi study report` draws the figures and states the paper's claims.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    run_p = verbs.add_parser("run", help="run the jobs that have no result yet")
    add_models(run_p)
    run_p.add_argument("--images", required=True,
                       help="gallery:SPEC (SPEC: 0-99, 0-4,10-14, or a count N taken one class at a time), "
                            "dataset:N or dataset:A-B (Fashion-MNIST test images), or a folder of image files "
                            "(used as they are; optional labels.json {file: class})")
    add_out_dir(run_p, None, "the study folder (created; a rerun resumes it)")
    run_p.add_argument("--attack", default="pgd", choices=("pgd",), help="the attack (default %(default)s)")
    add_attack_options(run_p)
    add_stop_options(run_p)
    run_p.add_argument("--grid", default=DEFAULTS["grid"], help="ROWSxCOLS cells (default %(default)s)")
    run_p.add_argument("--ratios", help="comma-separated orders as fractions of n-2 (default: the paper's "
                                        "0.1..0.9, 0.95, 1)")
    run_p.add_argument("--pairs", default=DEFAULTS["pairs"], choices=("neighbors", "all"),
                       help="pair set of the profile and of D^(m): 8-neighbour cells or all pairs "
                            "(default %(default)s)")
    run_p.add_argument("--pair-count", type=int,
                       help=f"pairs drawn per image for the profile (default {DEFAULTS['pair_count']}, or every pair "
                            f"of a smaller pair set; 0 = all)")
    run_p.add_argument("--samples", type=int, default=DEFAULTS["samples"], help="units per pair and order, >= 2")
    run_p.add_argument("--contexts", type=int, default=DEFAULTS["contexts"],
                       help="contexts per pair in each unit (default %(default)s; 0 = a whole block design)")
    run_p.add_argument("--coverage", type=int, default=DEFAULTS["coverage"],
                       help="how often each unit's block design covers every cell (default %(default)s)")
    run_p.add_argument("--shapley-samples", type=int, default=DEFAULTS["shapley_samples"],
                       help="permutation pairs of the Shapley map (default %(default)s; 0 = none)")
    run_p.add_argument("--d-samples", type=int, default=StudyParams.d_samples,
                       help="units (whole designs) per order for D^(m) (default %(default)s)")
    run_p.add_argument("--d-pair-count", type=int,
                       help=f"pairs drawn per image for D^(m) (default {D_PAIR_COUNT}, or every pair of a smaller "
                            f"pair set; 0 = all)")
    run_p.add_argument("--baseline", default=DEFAULTS["baseline"], choices=BASELINES,
                       help="what an absent cell shows: mean (the dataset mean), zero or blur (default %(default)s)")
    run_p.add_argument("--value", default=DEFAULTS["value"], choices=VALUE_FUNCTIONS,
                       help="value function v(S): log-odds, log-softmax or logit of the image's label (else the "
                            "predicted class) (default %(default)s)")
    run_p.add_argument("--twin-value", choices=VALUE_FUNCTIONS,
                       help="a second value function, computed from the same forward passes and reported beside")
    add_seed(run_p, "image hash")
    run_p.add_argument("--force", action="store_true",
                       help="replace the manifest of a study with other parameters in --out")
    run_p.add_argument("--limit", type=int, help="run at most N jobs this time")
    run_p.add_argument("--time-budget", type=time_budget, metavar="SECONDS",
                       help="fit the study's effort to this many seconds: contexts, units, pairs drawn, Shapley "
                            "permutation pairs and D's units and pairs are halved in turn until the jobs' estimate "
                            "fits (the same design for every job); a folder that holds the study resumes with the "
                            "design it recorded")
    add_ray_options(run_p)
    run_p.add_argument("--threads", type=int, default=1,
                       help="torch threads per job (default %(default)s); the same threads give bitwise the same "
                            "numbers in-process and on Ray")
    run_p.add_argument("--batch-size", type=int, help="images per forward pass (default: fits the device)")
    add_zoo_dir(run_p)
    add_data_dir(run_p, "read for --images dataset:N")
    run_p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(run_p)
    run_p.set_defaults(run=run)
    status_p = verbs.add_parser("status", help="what is done, failed and left")
    status_p.add_argument("folder", nargs="?", default=str(STUDY_DIR),
                          help="the study folder (default: the shipped study, assets/study)")
    status_p.set_defaults(run=status)
    report_p = verbs.add_parser("report", help="the figures and the three claims with their verdicts")
    report_p.add_argument("folder", nargs="?", default=str(STUDY_DIR),
                          help="the study folder (default: the shipped study, assets/study)")
    report_p.add_argument("--html", metavar="OUT", help="write the report as one self-contained HTML page")
    add_json_out(report_p, "every number of the report (a StudyReport)")
    report_p.set_defaults(run=report)


def load_images(spec: str, data_dir: str | None):
    """(images, description) from --images."""
    kind, _, rest = spec.partition(":")
    if kind == "gallery" and rest:
        indices = parse_images(rest, GALLERY_SIZE)
        return gallery_images(indices), f"gallery:{rest} ({len(indices)} gallery images)"
    if kind == "dataset" and rest:
        if rest.strip().isdigit():
            indices = list(range(int(rest)))
            if not indices:
                raise CommandError("--images dataset:N needs N >= 1")
        else:
            indices = parse_images(rest, total=10_000_000)
        return dataset_images(indices, data_dir), f"dataset:{rest} ({len(indices)} Fashion-MNIST test images)"
    folder = Path(spec)
    if folder.is_dir():
        images = folder_images(folder)
        return images, f"folder {folder.name} ({len(images)} images)"
    raise CommandError(f"--images {spec!r}: write gallery:0-99 (or a count such as gallery:50), dataset:N, or an "
                       f"existing folder of image files")


def pair_count_option(value: int | None):
    """A pair count option for StudyParams: not given, its default fitted to the grid; 0, all pairs (None)."""
    return DEFAULT_COUNT if value is None else value or None


def settings(args) -> StudyParams:
    return StudyParams(
        **attack_from_args(args), grid=args.grid,
        ratios=tuple(parse_list(args.ratios, float, "--ratios") or StudyParams.ratios), pairs=args.pairs,
        pair_count=pair_count_option(args.pair_count), samples=args.samples, contexts=args.contexts or None,
        coverage=args.coverage, shapley_samples=args.shapley_samples, d_samples=args.d_samples,
        d_pair_count=pair_count_option(args.d_pair_count), baseline=args.baseline, value=args.value,
        twin_value=args.twin_value)


def budgeted_settings(args, plan, params: StudyParams, images: int, device) -> StudyParams:
    """The study's settings fitted to ``--time-budget`` (:func:`mimi.batch.study.budget.fit_study`), or, in a folder that
    holds this study already (and without --force), the design it recorded."""
    folder = Path(args.out)
    if manifest_path(folder).exists() and not args.force:
        recorded = StudyParams.from_dict(read_manifest(folder).params)
        print(f"mimi study: resuming {folder} with the design it recorded (pairs {recorded.pair_count}, "
              f"units {recorded.samples}, contexts {recorded.contexts})", file=sys.stderr)
        return recorded
    shape = tuple(plan.jobs[0].image.pixels.shape)
    fitted, seconds = fit_study(params, plan.models, images, shape, args.time_budget, device)
    changed = [f"{name} {getattr(params, name)} -> {getattr(fitted, name)}"
               for name in ("contexts", "samples", "pair_count", "shapley_samples", "d_samples", "d_pair_count")
               if getattr(params, name) != getattr(fitted, name)]
    print(f"mimi study: fitted to the {args.time_budget:g} s budget: about {seconds:.0f} s estimated"
          + (f" ({', '.join(changed)})" if changed else " with the settings as given"), file=sys.stderr)
    return fitted


def run(args) -> int:
    names = model_names(args)
    device = resolve_device(args.device)
    writable_path(Path(args.out) / "study.json")
    images, description = load_images(args.images, args.data_dir)
    params = settings(args)
    plan = plan_study(names, images, params, seed=args.seed, images_description=description,
                      zoo_dir=resolve_zoo_dir(args), command=command_line(args))
    if args.time_budget is not None:
        params = budgeted_settings(args, plan, params, len(images), device)
        plan = plan_study(names, images, params, seed=args.seed, images_description=description,
                          zoo_dir=resolve_zoo_dir(args), command=command_line(args))
    for skip in plan.manifest.skipped:
        print(f"mimi study: skipped {skip['image']} on {skip['model']}: {skip['reason']}", file=sys.stderr)
    where = "in-process" if args.ray is None else f"on Ray ({args.ray})"
    print(f"mimi study: {len(plan.jobs)} jobs ({len(images)} images x {len(names)} models"
          f"{f', {len(plan.manifest.skipped)} skipped' if plan.manifest.skipped else ''}), about "
          f"{plan.manifest.passes_per_job:,} forward passes each, {where} on {device}", file=sys.stderr)
    try:
        result = run_study(
            args.out, plan, force=args.force, limit=args.limit, ray=args.ray, ray_timeout=args.ray_timeout,
            gpus_per_job=args.gpus_per_job, device=str(device), threads=args.threads, batch_size=args.batch_size,
            progress=None if args.quiet else TerminalBar("study"), num_cpus=args.ray_cpus,
            log=lambda line: print(f"mimi study: {line}", file=sys.stderr))
    except StudyMismatch as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"mimi study: interrupted; the finished jobs are saved in {args.out}: run the same command again "
              f"to compute the rest", file=sys.stderr)
        raise
    print(result.summary())
    print(f"ran {result.ran} jobs in {result.wall_time_s:.0f} s; `mimi study report {args.out}` for the figures")
    return 1 if result.failed else 0


def status(args) -> int:
    print(study_status(args.folder).summary())
    return 0


def report(args) -> int:
    html_out = optional_writable_path(args.html)
    json_out = optional_writable_path(args.json)
    result = build_report(args.folder)
    print(result.summary())
    if html_out is not None:
        html_out.write_text(report_html(result))
        print(f"wrote {html_out}")
    save_json(result, json_out)
    return 0
