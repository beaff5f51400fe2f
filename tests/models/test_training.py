import pytest
import torch

from mimi.data.datasets import FMNIST_CLASSES, ImageSet
from mimi.models.networks import SmallCNN, build
from mimi.models.training import RECIPES, TrainConfig, cutout, train


def synthetic(count=64, channels=1, size=28, seed=0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    return ImageSet(torch.rand(count, channels, size, size, generator=g),
                    torch.randint(0, 10, (count,), generator=g), FMNIST_CLASSES)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_trains_an_epoch(recipe):
    torch.manual_seed(0)
    model = SmallCNN()
    before = params(model).clone()
    record = train(model, synthetic(), TrainConfig(recipe=recipe, epochs=1, batch_size=32, attack_steps=2))
    after = params(model)
    assert torch.isfinite(after).all() and not torch.equal(before, after)
    assert record["config"]["recipe"] == recipe and record["epochs"] == 1
    assert not model.training


def test_resuming_from_a_checkpoint_gives_the_same_weights(tmp_path):
    data, cfg = synthetic(), TrainConfig(recipe="pgd-at", epochs=2, batch_size=32, attack_steps=2)
    torch.manual_seed(0)
    straight = SmallCNN()
    train(straight, data, cfg)

    def interrupt_in_second_epoch(done, total, message):
        if done == total // 2 + 1:
            raise KeyboardInterrupt

    ckpt = tmp_path / "run.ckpt"
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(SmallCNN(), data, cfg, ckpt, progress=interrupt_in_second_epoch)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    torch.manual_seed(1)  # different initial weights: the checkpoint replaces them
    resumed = SmallCNN()
    train(resumed, data, cfg, ckpt)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    assert torch.allclose(params(resumed), params(straight), atol=1e-6)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    data = synthetic(32)
    ckpt = tmp_path / "c.ckpt"
    train(SmallCNN(), data, TrainConfig(epochs=1, batch_size=32), ckpt)
    with pytest.raises(ValueError, match="another config"):
        train(SmallCNN(), data, TrainConfig(epochs=1, batch_size=32, lr=0.5), ckpt)


def test_cutout_zeroes_one_square_per_image():
    x = torch.ones(64, 1, 28, 28)
    out = cutout(x, 12, torch.Generator().manual_seed(0))
    zeros = (out == 0).sum((1, 2, 3))
    assert zeros.max() == 144 and zeros.min() >= 36  # a full 12x12 square, or one clipped by a border
    for img in out[:, 0]:
        rows, cols = (img == 0).nonzero(as_tuple=True)
        assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == len(rows)  # a rectangle


def test_unknown_recipe_is_a_clear_error():
    with pytest.raises(ValueError, match="mixup"):
        TrainConfig(recipe="mixup")


def test_resnet18_recipe_on_tiny_cifar_like_data():
    torch.manual_seed(0)
    model = build("resnet18", in_channels=3)
    data = synthetic(8, channels=3, size=32)
    before = params(model).clone()
    train(model, data, TrainConfig(recipe="pgd-at", epochs=1, batch_size=8, attack_steps=1))
    assert not torch.equal(before, params(model))
    assert model(data.images[:2]).shape == (2, 10)


def test_dropout_small_cnn_keeps_the_parameters_and_drops_only_in_training():
    torch.manual_seed(0)
    plain, dropped = SmallCNN(), SmallCNN(dropout=0.5)
    assert [tuple(p.shape) for p in plain.parameters()] == [tuple(p.shape) for p in dropped.parameters()]
    dropped.load_state_dict({k: v for k, v in zip(dropped.state_dict(), plain.state_dict().values())})
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(dropped.eval()(x), plain.eval()(x))       # eval: dropout is the identity
    dropped.train()
    assert not torch.allclose(dropped(x), dropped(x))             # train: a fresh mask per call
    with pytest.raises(ValueError, match="dropout=1.0"):
        SmallCNN(dropout=1.0)
