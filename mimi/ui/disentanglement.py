"""Disentanglement D^(m) of a model over the labelled Fashion-MNIST gallery: which gallery images (class by class),
the cached computation, and its settings and band in words."""

from __future__ import annotations

import torch

from mimi.analysis.gallery import balanced_indices
from mimi.data.datasets import FMNIST_CLASSES
from mimi.ui import compute, state
from mimi.ui.interactions import effort_text, grid_summary, pairs_evaluated
from mimi.ui.page import model, planned
from mimi.ui.params import check_work, disentanglement_request, estimate_passes
from mimi.ui.sidebar import Selection


def gallery_batch(count: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """``count`` gallery images, class by class: the first image of each class in class order (gallery
    indices 0, 10, 20, …), then the second (1, 11, …), and so on; with their labels and indices."""
    images = compute.gallery()
    order = balanced_indices(count, len(images))
    return images.images[order], images.labels[order], order


def gallery_batch_text(count: int) -> str:
    """Which images :func:`gallery_batch` takes, in words (the gallery: the first 10 test images of each class)."""
    rounds, extra = divmod(count, 10)

    def listed(classes: range) -> str:
        names = [FMNIST_CLASSES[c] for c in classes]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    if not rounds:
        return (f"{count} gallery image{'s' if count > 1 else ''}: the first Fashion-MNIST test image of "
                f"{listed(range(count))}")
    more = f", plus test image {rounds + 1} of {listed(range(extra))}" if extra else ""
    first = "the first" if rounds == 1 else f"the first {rounds}"
    return f"{count} gallery images: {first} Fashion-MNIST test image{'s' if rounds > 1 else ''} of every class{more}"


def disentanglement_summary(p: dict) -> str:
    """The settings of :func:`disentanglement` in words (its samples and pairs are its own, not the profile's)."""
    request = disentanglement_request(p)
    drawn = (f"{request.pair_count} pairs drawn per image from the {request.pairs} set"
             f"{state.fitted_note('dpcount')}" if request.pair_count else f"every {request.pairs} pair")
    return (f"{grid_summary(request.grid)}, {p['orders']} orders, {drawn}, {effort_text(request)}, "
            f"baseline {request.baseline}, v = {request.value}, seed {request.seed}")


def disentanglement_band_text(count: int) -> str:
    """What the D^(m) chart's line and band are (:class:`mimi.analysis.Disentanglement`), for ``count`` images."""
    line = ("Line: D⁽ᵐ⁾ pooled over these images and their pairs, bias-corrected (the plug-in value of the "
            "released code, biased upward where interactions are small, is dotted: click it in the legend). ")
    if count == 1:
        band = ("Band: 95% normal interval from the delete-one-unit jackknife SE of this one image: it covers "
                "the random contexts only, not the choice of image or of pairs.")
    else:
        band = (f"Band: 95% interval, Student t with {count - 1} degrees of freedom on the delete-one-image "
                "jackknife SE: every image has its own masks and pairs, so the band covers the contexts, the "
                "pairs drawn and how D varies from image to image (it treats these images as a sample).")
    return (line + band + " Orders m = 0 and m = n−2 (r = 1) have one context per pair, so D = 1 there by "
            "construction; they are not drawn.")


def require_labelled_gallery(sel: Selection, name: str, what: str, api: str) -> None:
    """ValueError saying that ``what`` runs over the labelled Fashion-MNIST gallery, for a model of an input space
    without it."""
    if not sel.input_space.has_labelled_gallery:
        raise ValueError(f"{what} runs over the 100 labelled Fashion-MNIST gallery images; {name} takes "
                         f"{sel.input_space.title} images ({'×'.join(map(str, sel.input_space.shape))}), whose gallery has too "
                         f"few labelled images. Choose Fashion-MNIST models in the sidebar, or run {api} on your own "
                         f"images")


def disentanglement(sel: Selection, name: str, count: int):
    """D^(m) of model ``name`` over ``count`` gallery images (``dsamples`` samples per order); Fashion-MNIST
    models only (the labelled gallery it runs over)."""
    require_labelled_gallery(sel, name, "D⁽ᵐ⁾", "mimi.analysis.disentanglement")
    request = disentanglement_request(state.params())
    check_work(estimate_passes("profile", grid=request.grid, orders=len(request.ratios),
                               pairs=pairs_evaluated(request), samples=request.samples,
                               contexts=request.contexts or 0, images=count),
               f"The disentanglement of {name}")
    images, labels, order = gallery_batch(count)
    net = model(sel, name)

    def run(progress):
        return request.run(net, images, labels, device=sel.device, progress=progress)

    work = planned(sel, name, request, count, "Fewer images, pairs per image, samples or contexts, or a coarser grid")
    return compute.compute(f"Disentanglement of {name} over {count} images", run, compute.model_identity(name),
                           order, request, planned=work)
