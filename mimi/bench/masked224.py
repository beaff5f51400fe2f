"""Bench section ``masked224``: the engine's masked forward at 224 px against the raw forward.

The model is built as a registered ImageNet model is (:func:`mimi.models.checkpoints.load_classifier`): torchvision's
ResNet-18 (random weights, seed 0) inside :class:`mimi.models.architectures.NormalizedNetwork` with ImageNet's
mean and std, frozen; float32 on every device.

- raw: images per second of the forward pass on a batch of the shipped natural photos
  (``assets/gallery-natural``, 224x224, repeated to fill the batch) at the batch size the engine
  chooses (:func:`mimi.core.compute.default_batch_size`), in :func:`mimi.core.compute.forward_context`, through
  the module the engine runs (:func:`mimi.core.compute.inference_model`: a channels-last copy on CPU) and,
  for reference, through the model as stored;
- masked: mask rows per second of :class:`mimi.core.games.ImageGame` on random masks (p = 1/2) over a 16x16
  grid, mean baseline, log-odds of the clean image's predicted class, default batch size: for one image,
  and for a clean + adversarial pair sharing the masks (two images per row; the "adversarial" image
  is the clean one plus a random ±4/255 sign pattern: the time does not depend on the pixels). Each call
  starts from a numpy bool array, so converting the masks, building the 224-px masked images and the
  baseline, the forward pass, the value function and the float64 copy back are all timed.

Goal: masked images per second (rows x images per row) / raw images per second >= 0.9. Wall clock,
the three timings interleaved, best of ``repeats`` (other work only slows a repeat down); the same
ratios by process CPU time are in the notes.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from mimi.core.compute import default_batch_size, forward_context, freeze, inference_model
from mimi.core.games import ImageGame, predict
from mimi.data.images import gallery_images
from mimi.data.input_spaces import IMAGENET_MEAN, IMAGENET_STD
from mimi.models.architectures import NormalizedNetwork, build_network

SIDE, GRID, EPS = 224, "16x16", 4 / 255


def imagenet_resnet18(device: str = "cpu") -> torch.nn.Module:
    """torchvision's ResNet-18 with random weights (seed 0), normalized as a registered ImageNet model, frozen."""
    torch.manual_seed(0)
    return freeze(NormalizedNetwork(build_network("resnet18", 1000, 3, SIDE), IMAGENET_MEAN, IMAGENET_STD).to(device))


def photos() -> torch.Tensor:
    """The shipped natural photos at 224x224, (N, 3, 224, 224) in [0, 1]."""
    return torch.stack([entry.image for entry in gallery_images("imagenet")])


def masked_throughput(model: torch.nn.Module, images: torch.Tensor, device: str = "cpu", batches: int = 4,
                      repeats: int = 5, precision: str = "float32", grid: str = GRID) -> dict[str, Any]:
    """Raw images/s (engine module and stored model) and masked rows/s (one image; clean + adversarial), best of
    ``repeats`` interleaved timings of ``batches`` batches each, by wall clock and by process CPU time."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    images = images.float()
    batch = default_batch_size(model, tuple(images.shape[1:]), dev, precision)
    runner = inference_model(model, dev)
    raw_inputs = images[torch.arange(batch) % len(images)].contiguous().to(dev)
    clean = images[0]
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    adversarial = (clean + EPS * torch.sign(noise)).clamp(0, 1)
    target = int(predict(model, clean[None])[0][0])
    games = {
        "single": ImageGame(model, clean, target, grid=grid, baseline="mean", value="log-odds", device=device,
                            precision=precision),
        "pair": ImageGame(model, torch.stack([clean, adversarial]), [target, target], grid=grid, baseline="mean",
                          value="log-odds", device=device, precision=precision),
    }
    rng = np.random.default_rng(0)
    masks = {name: rng.random((game.rows_per_batch * batches, game.n)) < 0.5 for name, game in games.items()}

    def timed(work) -> tuple[float, float]:
        if cuda:
            torch.cuda.synchronize(dev)
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        if cuda:
            torch.cuda.synchronize(dev)
        return time.perf_counter() - wall, time.process_time() - cpu

    def raw(module):
        def work():
            with forward_context(dev, precision):
                for _ in range(batches):
                    module(raw_inputs)
        return work

    work = {"raw_engine_module": (raw(runner), batch * batches), "raw_stored": (raw(model), batch * batches)}
    for name, game in games.items():
        work[name] = (lambda game=game, rows=masks[name]: game(rows), len(masks[name]))
    for name in work:   # warm-up: one batch each
        if name.startswith("raw"):
            with forward_context(dev, precision):
                (runner if name == "raw_engine_module" else model)(raw_inputs)
        else:
            games[name](masks[name][:games[name].rows_per_batch])
    best = {name: [0.0, 0.0] for name in work}   # per second of wall clock, per CPU second
    for _ in range(repeats):
        for name, (job, count) in work.items():
            wall, cpu = timed(job)
            best[name][0] = max(best[name][0], count / max(wall, 1e-9))
            best[name][1] = max(best[name][1], count / max(cpu, 1e-9))
    raw_rate = best["raw_engine_module"]
    return {
        "device": str(dev), "precision": precision, "grid": grid, "batch_size": batch,
        "rows_per_batch": {name: game.rows_per_batch for name, game in games.items()},
        "raw_images_per_s": raw_rate[0], "raw_stored_images_per_s": best["raw_stored"][0],
        "single_rows_per_s": best["single"][0], "pair_rows_per_s": best["pair"][0],
        "single_ratio": best["single"][0] / raw_rate[0], "pair_ratio": 2 * best["pair"][0] / raw_rate[0],
        "cpu_time": {"raw_images_per_cpu_s": raw_rate[1], "single_rows_per_cpu_s": best["single"][1],
                     "pair_rows_per_cpu_s": best["pair"][1], "single_ratio": best["single"][1] / raw_rate[1],
                     "pair_ratio": 2 * best["pair"][1] / raw_rate[1]},
        "batches": batches, "repeats": repeats, "threads": torch.get_num_threads(),
    }


def run(quick: bool = False, device: str = "cpu") -> dict[str, Any]:
    model = imagenet_resnet18(device)
    batches = 1 if quick else 4
    result = masked_throughput(model, photos(), device=str(device), batches=batches, repeats=1 if quick else 5)
    batch, cpu = result["batch_size"], result["cpu_time"]
    rows = [
        ["device (float32)", result["device"], ""],
        ["batch size (images per forward pass, the engine's default)", batch, ""],
        ["raw forward of the engine's module (channels-last on CPU), images/s", round(result["raw_images_per_s"], 1),
         ""],
        ["raw forward of the model as stored, images/s", round(result["raw_stored_images_per_s"], 1), ""],
        [f"masked forward, 1 image ({GRID} grid, mean baseline, log-odds), mask rows/s",
         round(result["single_rows_per_s"], 1), ""],
        ["masked forward, clean + adversarial (2 images per row), mask rows/s",
         round(result["pair_rows_per_s"], 1), ""],
        ["1 image: masked rows/s / raw images/s", round(result["single_ratio"], 3), ">= 0.9"],
        ["clean + adversarial: 2 x masked rows/s / raw images/s", round(result["pair_ratio"], 3), ">= 0.9"],
    ]
    notes = [f"{'quick' if quick else 'full'}: ResNet-18 (random weights) at 224 px, {batches} batch(es) per timing, "
             f"best of {result['repeats']}, {result['threads']} torch threads; by process CPU time the ratios are "
             f"{cpu['single_ratio']:.3f} (1 image) and {cpu['pair_ratio']:.3f} (clean + adversarial)"]
    return {"rows": rows, "notes": notes, "throughput": result}
