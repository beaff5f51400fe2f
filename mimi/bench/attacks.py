"""Bench section ``attacks``: mimi's PGD against torchattacks' PGD on the same model and batch.

(a) Time per PGD step (L-inf, random start, no early stop): mimi's ``pgd_perturb`` vs
    ``torchattacks.PGD``, called alternately (ABBA order) for several repeats. The value is the
    median over repeats of the ratio of the two back-to-back timings (wall clock; on CPU also
    this process's CPU time, which other processes on a shared machine disturb less; on CPU both
    run with one torch thread). Goal <= 1.05.
(b) Robust accuracy under PGD-20 with matched settings (eps 0.1, step 2.5 * eps / 20, random
    start, 1 restart) on the same test images: an image counts as robust when it is classified
    correctly clean and attacked. Goal: mimi's accuracy <= torchattacks' + 1 point (as strong or stronger).

Models: ``fmnist-standard`` and ``fmnist-pgd-at`` from the zoo; a seeded untrained SmallCNN
stands in for a missing one (said in the notes). Images: the first test images of
Fashion-MNIST (1000, or 200 with ``quick``), else the 100 gallery images.
torchattacks is a test/bench extra: without it the section says so and measures mimi alone.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
from torch import nn

from mimi.attacks.base import make_generator
from mimi.attacks.pgd import default_step_size, pgd_perturb
from mimi.core.compute import freeze
from mimi.data.datasets import DatasetMissing, ImageSet, load_fashion_mnist, load_gallery
from mimi.models import zoo
from mimi.models.networks import SmallCNN

MODELS = ("fmnist-standard", "fmnist-pgd-at")
EPS, STEPS = 0.1, 20


def _models(device: str) -> tuple[dict[str, nn.Module], list[str]]:
    models, notes = {}, []
    for index, name in enumerate(MODELS):
        try:
            models[name] = zoo.load(name, device)[0]
        except (zoo.UnknownModel, zoo.CorruptWeights) as exc:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(index)  # weight initialisation only
                models[f"{name} (untrained stand-in)"] = freeze(SmallCNN().to(device))
            notes.append(f"{name} not available ({str(exc)[:80]}): a freshly initialised SmallCNN stands in")
    return models, notes


def _images(count: int) -> tuple[ImageSet, str]:
    try:
        return load_fashion_mnist("test").subset(count), f"Fashion-MNIST test[:{count}]"
    except DatasetMissing:
        return load_gallery(), "the 100 gallery images (Fashion-MNIST not installed)"


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _torchattacks_pgd(model: nn.Module, steps: int, seed: int) -> Callable:
    import torchattacks  # deferred: optional (the test extra)

    attack = torchattacks.PGD(model, eps=EPS, alpha=default_step_size(EPS, steps), steps=steps, random_start=True)

    def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):  # it draws from the global RNG
            torch.manual_seed(seed)
            return attack(x, y)

    return run


def _mimi_pgd(model: nn.Module, steps: int, seed: int) -> Callable:
    def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd_perturb(model, x, y, eps=EPS, steps=steps, step_size=default_step_size(EPS, steps), norm="linf",
                           random_start=True, generator=make_generator(seed, x.device))[0]

    return run


def step_times(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, repeats: int,
               device: str) -> dict[str, list[float]]:
    """Seconds per PGD step of each implementation, ``repeats`` calls each, alternating ABBA:
    wall-clock under "mimi"/"torchattacks", and this process's CPU time under "<name> cpu"
    (less sensitive to other processes on a shared machine)."""
    attacks = {"mimi": _mimi_pgd(model, steps, 0), "torchattacks": _torchattacks_pgd(model, steps, 0)}
    for run in attacks.values():  # warm-up
        run(x, y)
    times: dict[str, list[float]] = {key: [] for name in attacks for key in (name, f"{name} cpu")}
    for r in range(repeats):
        order = list(attacks) if r % 2 == 0 else list(attacks)[::-1]
        for name in order:
            _sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            attacks[name](x, y)
            _sync(device)
            times[name].append((time.perf_counter() - start) / steps)
            times[f"{name} cpu"].append((time.process_time() - start_cpu) / steps)
    return times


def robust_accuracy(model: nn.Module, attack: Callable, data: ImageSet, device: str,
                    batch_size: int = 250) -> tuple[float, float]:
    """(clean, robust) accuracy; robust = correct both clean and attacked."""
    clean = robust = 0
    for start in range(0, len(data), batch_size):
        x = data.images[start:start + batch_size].to(device)
        y = data.labels[start:start + batch_size].to(device)
        with torch.no_grad():
            correct = model(x).argmax(1) == y
        x_adv = attack(x, y)
        with torch.no_grad():
            robust += int((correct & (model(x_adv).argmax(1) == y)).sum())
        clean += int(correct.sum())
    return clean / len(data), robust / len(data)


def run(quick: bool = False, device: str = "cpu") -> dict[str, Any]:
    try:
        import torchattacks  # noqa: F401  (test/bench extra)
        have_reference = True
    except ImportError:
        have_reference = False
    models, notes = _models(device)
    data, data_name = _images(200 if quick else 1000)
    batch, steps, repeats = (32, 10, 4) if quick else (64, STEPS, 20)
    x, y = data.images[:batch].to(device), data.labels[:batch].to(device)
    rows: list[list[Any]] = []
    raw: dict[str, Any] = {"data": data_name, "timing": {"batch": len(x), "steps": steps, "repeats": repeats},
                           "robust": {"eps": EPS, "steps": STEPS, "step_size": default_step_size(EPS, STEPS),
                                      "random_start": True, "restarts": 1, "n_images": len(data)}}
    if not have_reference:
        notes.append("torchattacks is not installed (pip install -e '.[test]'): mimi measured alone")
    timed = next(iter(models))
    if have_reference:
        threads = torch.get_num_threads()
        if str(device) == "cpu":  # one thread: no idle-spinning workers when other processes share the cores
            torch.set_num_threads(1)
        try:
            times = step_times(models[timed], x, y, steps, repeats, device)
        finally:
            torch.set_num_threads(threads)
        mimi_ms, ta_ms = (1000 * statistics.median(times[k]) for k in ("mimi", "torchattacks"))
        # each repeat times both back to back: the median of these paired ratios resists load drift
        ratio = statistics.median(a / b for a, b in zip(times["mimi"], times["torchattacks"]))
        raw["timing"].update(model=timed, seconds_per_step=times, ratio_of_medians=mimi_ms / ta_ms)
        rows += [[f"PGD step, mimi (ms; {timed}, batch {len(x)}, {steps} steps, "
                  f"{1 if str(device) == 'cpu' else threads} thread(s))", round(mimi_ms, 3), ""],
                 ["PGD step, torchattacks (ms; same)", round(ta_ms, 3), ""],
                 ["PGD step time mimi / torchattacks (median of paired ratios)", round(ratio, 3), "<= 1.05"]]
        if str(device) == "cpu":
            cpu_ratio = statistics.median(a / b for a, b in zip(times["mimi cpu"], times["torchattacks cpu"]))
            rows.append(["PGD step CPU time mimi / torchattacks (median of paired ratios)", round(cpu_ratio, 3),
                         "<= 1.05"])
    for name, model in models.items():
        mimi_clean, mimi_robust = robust_accuracy(model, _mimi_pgd(model, STEPS, 0), data, device)
        raw["robust"][name] = {"clean": mimi_clean, "mimi": mimi_robust}
        rows.append([f"PGD-20 robust accuracy, mimi (%; {name})", round(100 * mimi_robust, 2), ""])
        if have_reference:
            _, ta_robust = robust_accuracy(model, _torchattacks_pgd(model, STEPS, 0), data, device)
            raw["robust"][name]["torchattacks"] = ta_robust
            rows += [[f"PGD-20 robust accuracy, torchattacks (%; {name})", round(100 * ta_robust, 2), ""],
                     [f"robust accuracy mimi - torchattacks (points; {name})",
                      round(100 * (mimi_robust - ta_robust), 2), "<= 1"]]
    notes.append(f"robust accuracy on {data_name}: L-inf eps {EPS}, {STEPS} steps of 2.5*eps/{STEPS}, random start")
    return {"rows": rows, "notes": notes, **raw}
