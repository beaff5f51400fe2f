"""Grids, baselines and masked images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimi.core.players import Grid, gaussian_blur, make_baseline, masked_images
from mimi.models.networks import SmallCNN


def test_grid_parse_and_indexing():
    grid = Grid.parse("7x7", 28, 28)
    assert (grid.rows, grid.cols, grid.n, grid.spec) == (7, 7, 49, "7x7")
    assert Grid.parse("3", 28, 28).n == 9 and Grid.parse((2, 5), 28, 28).n == 10
    assert Grid.parse(" 4 X 6 ", 28, 28).spec == "4x6"
    assert grid.cell(grid.index(3, 5)) == (3, 5) and grid.index(6, 6) == 48
    assert grid.bounds(grid.index(1, 2)) == (4, 8, 8, 12)
    for bad in ("7by7", "x7", "", "0x3"):
        with pytest.raises(ValueError, match="grid"):
            Grid.parse(bad, 28, 28)
    with pytest.raises(ValueError, match="29x4 is finer than the 28x28 image"):
        Grid.parse("29x4", 28, 28)
    with pytest.raises(ValueError, match="outside"):
        grid.cell(49)


def test_uneven_grid_covers_every_pixel_with_cells_of_near_equal_size():
    for size, parts in ((28, 8), (28, 5), (30, 16), (7, 7), (224, 16), (28, 28)):
        grid = Grid(parts, parts, size, size)
        heights = np.diff(grid.row_edges)
        assert grid.row_edges[0] == 0 and grid.row_edges[-1] == size
        assert heights.min() >= 1 and heights.max() - heights.min() <= 1
        counts = np.bincount(grid.cell_map.ravel(), minlength=grid.n)
        assert counts.sum() == size * size and counts.min() >= 1
    assert np.diff(Grid(8, 8, 28, 28).row_edges).tolist() == [4, 3, 4, 3, 4, 3, 4, 3]


def test_neighbor_pairs_of_a_3x3_grid():
    grid = Grid(3, 3, 9, 9)
    pairs = grid.neighbor_pairs()
    # 6 horizontal + 6 vertical + 8 diagonal neighbours
    assert len(pairs) == 20 and all(i < j for i, j in pairs) and len(set(map(tuple, pairs.tolist()))) == 20
    assert all(j in grid.neighbors(i) for i, j in pairs)
    assert sorted(grid.neighbors(4)) == [0, 1, 2, 3, 5, 6, 7, 8]
    assert sorted(grid.neighbors(0)) == [1, 3, 4]
    assert len(grid.all_pairs()) == 36
    # 7x7: 2 * 7 * 6 straight + 2 * 6 * 6 diagonal
    assert len(Grid(7, 7, 28, 28).neighbor_pairs()) == 156


@pytest.mark.parametrize("channels,height,width,spec", [(1, 28, 28, "7x7"), (3, 30, 17, "4x3"), (2, 9, 9, "9x2")])
def test_masked_images_show_image_inside_and_baseline_outside(channels, height, width, spec):
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(channels, height, width, generator=gen)
    baseline = torch.rand(channels, height, width, generator=gen) + 2  # disjoint from the image
    grid = Grid.parse(spec, height, width)
    masks = np.random.default_rng(1).random((6, grid.n)) < 0.5
    masks[0], masks[1] = False, True
    out = masked_images(image, baseline, grid, masks)
    assert out.shape == (6, channels, height, width)
    cell_map = grid.cell_map
    for row, mask in enumerate(masks):
        inside = torch.as_tensor(mask[cell_map])
        assert torch.equal(out[row][:, inside], image[:, inside])
        assert torch.equal(out[row][:, ~inside], baseline[:, ~inside])
    assert torch.equal(out[0], baseline) and torch.equal(out[1], image)


def test_masked_images_of_several_images_share_the_masks():
    images = torch.rand(3, 1, 8, 8)
    grid = Grid(2, 2, 8, 8)
    masks = np.array([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=bool)
    out = masked_images(images, torch.zeros_like(images), grid, masks)
    assert out.shape == (2, 3, 1, 8, 8)
    assert torch.equal(out[0, :, :, :4, :4], images[:, :, :4, :4]) and out[0, :, :, :4, 4:].abs().sum() == 0
    with pytest.raises(ValueError, match=r"\(k, 4\)"):
        masked_images(images, images, grid, masks[:, :3])


def test_baselines():
    image = torch.rand(1, 28, 28)
    model = SmallCNN()
    assert torch.allclose(make_baseline(image, "mean", model=model), torch.full_like(image, 0.2860))
    assert torch.equal(make_baseline(image, "zero"), torch.zeros_like(image))
    rgb = torch.rand(3, 10, 12)
    mean = make_baseline(rgb, "mean", mean=(0.1, 0.2, 0.3))
    assert mean.shape == rgb.shape and torch.allclose(mean[:, 4, 5], torch.tensor([0.1, 0.2, 0.3]))
    assert torch.equal(make_baseline(rgb, 0.5), torch.full_like(rgb, 0.5))
    with pytest.raises(ValueError, match="Normalize"):
        make_baseline(rgb, "mean", model=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown baseline 'noise'"):
        make_baseline(rgb, "noise")
    blurred = make_baseline(rgb, "blur", blur_sigma=1.5)
    assert blurred.shape == rgb.shape and blurred.std() < rgb.std()


def test_gaussian_blur_keeps_constants_and_mass():
    constant = torch.full((2, 9, 9), 0.7)
    assert torch.allclose(gaussian_blur(constant, 2.0), constant, atol=1e-6)
    spike = torch.zeros(1, 21, 21)
    spike[0, 10, 10] = 1
    blurred = gaussian_blur(spike, 1.0)
    assert abs(blurred.sum().item() - 1) < 1e-5 and blurred[0, 10, 10] < 0.2
    assert torch.allclose(blurred, blurred.flip(-1)) and torch.allclose(blurred, blurred.transpose(-1, -2))
