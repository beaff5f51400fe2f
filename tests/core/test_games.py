"""Image games: values equal a direct model evaluation, shared masks, pass counting, progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimi.core.compute import BatchProgress, choose_device, default_batch_size, freeze
from mimi.core.games import ImageGame, resolve_target
from mimi.core.progress import Cancelled
from mimi.core.values import class_value
from mimi.models.networks import SmallCNN
from tests.nets import frozen


@pytest.fixture(scope="module")
def model():
    return frozen(SmallCNN)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def direct_values(model, image, target, masks, grid_cells, kind="log-odds", baseline=0.2860):
    """v(S) the slow way: build each masked image pixel by pixel and run the model once per row."""
    rows = []
    for mask in masks:
        x = torch.full_like(image, baseline)
        for cell in np.flatnonzero(mask):
            top, bottom, left, right = grid_cells(cell)
            x[:, top:bottom, left:right] = image[:, top:bottom, left:right]
        rows.append(class_value(model(x[None]), torch.tensor([target]), kind).item())
    return np.array(rows)


@pytest.mark.parametrize("kind", ["log-odds", "log-softmax", "logit"])
def test_values_equal_direct_model_evaluation(model, images, kind):
    game = ImageGame(model, images[0], 3, grid="5x5", value=kind, batch_size=7)
    masks = np.random.default_rng(0).random((17, 25)) < 0.4
    values = game(masks)
    assert values.dtype == np.float64 and values.shape == (17,)
    with torch.no_grad():
        expected = direct_values(model, images[0], 3, masks, game.grid.bounds, kind)
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)
    assert game.forward_passes == 17 and game.mask_rows == 17


def test_several_images_share_masks_and_count_passes(model, images):
    game = ImageGame(model, images, [3, 7], grid="4x4", baseline="zero", batch_size=5)
    masks = np.random.default_rng(2).random((9, 16)) < 0.5
    values = game(masks)
    assert values.shape == (9, 2)
    for g, target in enumerate((3, 7)):
        single = ImageGame(model, images[g], target, grid="4x4", baseline="zero", batch_size=64)
        np.testing.assert_allclose(values[:, g], single(masks), rtol=1e-5, atol=1e-6)
    assert game.forward_passes == 18 and game.mask_rows == 9 and game.rows_per_batch == 2


def test_full_and_empty_coalitions(model, images):
    game = ImageGame(model, images[0], 1, grid="7x7")
    full_empty = game(np.array([[True] * 49, [False] * 49]))
    with torch.no_grad():
        full = class_value(model(images[:1]), torch.tensor([1])).item()
        empty = class_value(model(torch.full((1, 1, 28, 28), 0.2860)), torch.tensor([1])).item()
    np.testing.assert_allclose(full_empty, [full, empty], rtol=1e-5)


def test_progress_per_batch_and_cancellation(model, images):
    calls = []
    game = ImageGame(model, images, [0, 0], grid="7x7", batch_size=8, progress=lambda d, t, m: calls.append((d, t, m)))
    game.expect(10, "profile")
    game(np.ones((10, 49), dtype=bool))
    assert calls == [(8, 20, "profile"), (16, 20, "profile"), (20, 20, "profile")]

    def cancel_after_first(done, total, message):
        if done > 8:
            raise Cancelled("stop")

    game = ImageGame(model, images[0], 0, batch_size=8, progress=cancel_after_first)
    with pytest.raises(Cancelled):
        game(np.ones((40, 49), dtype=bool))
    assert game.forward_passes == 16


def test_bad_input(model, images):
    with pytest.raises(ValueError, match="2 target"):
        ImageGame(model, images, 3)
    with pytest.raises(ValueError, match="finer"):
        ImageGame(model, images[0], 3, grid="30x30")
    with pytest.raises(ValueError, match="unknown value function"):
        ImageGame(model, images[0], 3, value="prob")
    game = ImageGame(model, images[0], 3)
    with pytest.raises(ValueError, match=r"\(k, 49\)"):
        game(np.ones((2, 48), dtype=bool))


def test_targets_and_device(model, images):
    assert resolve_target(model, images[0], 4, "label") == 4
    assert resolve_target(model, images[0], 4, 2) == 2
    predicted = resolve_target(model, images[0], None, "predicted")
    assert predicted == int(model(images[:1]).argmax())
    with pytest.raises(ValueError, match="needs the image's label"):
        resolve_target(model, images[0], None, "label")
    assert choose_device("cpu").type == "cpu" and choose_device(None).type in ("cpu", "cuda", "mps")
    assert default_batch_size(model, (1, 28, 28), torch.device("cpu")) == 128
    assert default_batch_size(model, (3, 224, 224), torch.device("cpu")) == 8
    progress = BatchProgress()
    progress.expect(5)
    progress.advance(7)
    assert (progress.done, progress.total) == (7, 7)


def test_inference_model_is_a_cached_channels_last_copy(images):
    from mimi.core.compute import inference_model

    torch.manual_seed(3)
    model = freeze(SmallCNN())
    fast = inference_model(model, torch.device("cpu"))
    assert fast is not model and fast is inference_model(model, torch.device("cpu"))
    assert model.features[3].weight.is_contiguous()  # the shared model is untouched
    assert fast.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        torch.testing.assert_close(fast(images), model(images), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        model.classifier[-1].bias.add_(1.0)  # an in-place change invalidates the copy
    rebuilt = inference_model(model, torch.device("cpu"))
    assert rebuilt is not fast and torch.equal(rebuilt.classifier[-1].bias, model.classifier[-1].bias)
    linear = torch.nn.Linear(3, 2)
    assert inference_model(linear, torch.device("cpu")) is linear
