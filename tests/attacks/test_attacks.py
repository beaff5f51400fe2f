"""PGD and FGSM on tiny models: exact optima of linear models, bounds, modes, determinism, bad input,
tensor results on the input's device, keyword-only parameters."""

from __future__ import annotations

import functools
import inspect
import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mimi.analysis import DEFAULTS
from mimi.attacks import AttackResult, fgsm, fgsm_perturb, pgd, pgd_perturb
from mimi.attacks.base import make_generator, project, random_start
from mimi.attacks.landing import PAPER_PRESET
from mimi.core.compute import freeze
from mimi.core.results import Result, load_result
from mimi.core.values import class_value
from mimi.data.datasets import load_gallery
from tests.nets import TwoConvNet, frozen


class Affine(nn.Module):
    """logits = W x + b on flattened images: attacks on it have closed-form optima."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def images(count: int, seed: int = 0) -> torch.Tensor:
    """Fashion-MNIST-like inputs: a black background (exact zeros) with a bright random blob."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(count, 1, 28, 28, generator=g)
    mask = torch.zeros(1, 1, 28, 28)
    mask[..., 6:22, 8:20] = 1
    return x * mask


@functools.lru_cache(maxsize=None)
def fitted_net(every: int = 1) -> nn.Module:
    """TwoConvNet fitted for 40 Adam steps to every ``every``-th gallery image: a real, non-robust classifier."""
    data = load_gallery()
    x, y = data.images[::every], data.labels[::every]
    torch.manual_seed(0)  # weight initialisation only
    model = TwoConvNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(40):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return freeze(model)


@pytest.fixture(scope="module")
def gallery_set():
    return load_gallery()


@pytest.fixture(scope="module")
def net() -> nn.Module:
    return fitted_net()


@pytest.fixture(scope="module")
def batch(net, gallery_set):
    """12 gallery images of several classes that the net classifies correctly."""
    with torch.no_grad():
        right = (net(gallery_set.images).argmax(1) == gallery_set.labels).nonzero().squeeze(1)
    rows = right[::max(1, len(right) // 12)][:12]
    return gallery_set.images[rows], gallery_set.labels[rows]


def two_class_affine(seed: int = 0) -> tuple[Affine, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(2, 784, generator=g) * 0.05
    return freeze(Affine(weight, torch.tensor([4.0, 0.0]))), weight[0] - weight[1]


def margin(model: Affine, x: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    return logits[:, 0] - logits[:, 1]


@pytest.mark.parametrize("random_start", [False, True])
def test_linf_pgd_reaches_the_box_constrained_optimum_of_a_linear_model(random_start):
    # For two classes CE is decreasing in the margin a.x + b, so the optimum over the L-inf ball
    # intersected with [0, 1] is delta_i = clip(-eps sign(a_i), -x_i, 1 - x_i), coordinate-wise.
    model, a = two_class_affine()
    x, y, eps = images(4), torch.zeros(4, dtype=torch.long), 0.1
    optimum = (-eps * a.sign()).expand_as(x.flatten(1)).clamp(-x.flatten(1), 1 - x.flatten(1))
    result = pgd(model, x, y, eps=eps, steps=10, random_start=random_start)
    delta = result.perturbation.flatten(1)
    assert torch.allclose(delta, optimum, atol=1e-6)
    assert torch.allclose(margin(model, result.x_adv), margin(model, x) + (a * optimum).sum(1), atol=1e-4)


def test_l2_pgd_reaches_the_optimum_of_a_linear_model():
    # Away from the box, the L2 optimum is delta = -eps a / ||a||: the margin drops by eps ||a||.
    model, a = two_class_affine(1)
    x, y, eps = torch.full((3, 1, 28, 28), 0.5), torch.zeros(3, dtype=torch.long), 1.0
    exact = pgd(model, x, y, eps=eps, steps=5, norm="l2", random_start=False)
    expected = margin(model, x) - eps * a.norm()
    assert torch.allclose(margin(model, exact.x_adv), expected, atol=1e-4)
    assert torch.allclose(exact.l2_norm, torch.full((3,), eps), atol=1e-5)
    started = pgd(model, x, y, eps=eps, steps=40, norm="l2", random_start=True)
    drop = margin(model, x) - margin(model, started.x_adv)
    assert torch.all(drop >= 0.98 * eps * a.norm())  # the random part of the start decays geometrically


def test_fgsm_is_exact_on_a_linear_model_and_fgsm_rs_steps_125_eps():
    model, a = two_class_affine(2)
    x, y, eps = images(4, seed=3), torch.zeros(4, dtype=torch.long), 0.05
    optimum = (-eps * a.sign()).expand_as(x.flatten(1)).clamp(-x.flatten(1), 1 - x.flatten(1))
    result = fgsm(model, x, y, eps=eps)
    assert torch.allclose(result.perturbation.flatten(1), optimum, atol=1e-6)
    assert result.params["attack"] == "fgsm" and result.params["step_size"] == eps
    rs = fgsm(model, x, y, eps=eps, random_start=True)
    assert rs.params["attack"] == "fgsm-rs" and rs.params["step_size"] == pytest.approx(1.25 * eps)
    # delta = Proj(delta0 - 1.25 eps sign(a)) with delta0 the seeded uniform start in the ball.
    start = random_start(x, eps, "linf", make_generator(0, "cpu"))
    expected = project(start - 1.25 * eps * a.sign().view(1, 1, 28, 28), x, eps, "linf")
    assert torch.allclose(rs.perturbation, expected, atol=1e-6)
    assert not torch.allclose(expected, start)


def test_pgd_beats_fgsm_on_a_network(net, batch):
    x, y = batch
    strong = pgd(net, x, y, eps=0.05, steps=20, random_start=False)
    single = fgsm(net, x, y, eps=0.05)
    assert bool((strong.utility > 0).all())
    assert strong.utility.mean() > single.utility.mean()
    assert strong.success.sum() >= single.success.sum()


norms = st.sampled_from(["linf", "l2"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 3.0), steps=st.integers(1, 4), norm=norms,
       step_scale=st.one_of(st.none(), st.floats(0.01, 5.0)), restarts=st.integers(1, 2),
       random_start=st.booleans(), early_stop=st.booleans(), targeted=st.booleans())
def test_pgd_stays_in_the_eps_ball_and_the_valid_range(seed, eps, steps, norm, step_scale, restarts,
                                                       random_start, early_stop, targeted):
    if norm == "linf":
        eps = min(eps, 1.0)
    net = frozen(TwoConvNet, seed % 3)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(5, 1, 28, 28, generator=g) * (torch.rand(5, 1, 28, 28, generator=g) < 0.6)
    y = torch.randint(0, 10, (5,), generator=g)
    target = torch.randint(0, 10, (5,), generator=g) if targeted else None
    step_size = None if step_scale is None or step_scale * eps == 0 else step_scale * eps   # eps may underflow
    result = pgd(net, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm, random_start=random_start,
                 restarts=restarts, targeted=target, early_stop=early_stop, seed=seed)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    size = result.linf_norm if norm == "linf" else result.l2_norm
    assert bool((size <= eps * (1 + 1e-5) + 1e-6).all())
    assert torch.allclose(result.x_adv - result.perturbation, x, atol=1e-6)
    assert bool(((result.steps_used >= 0) & (result.steps_used <= steps)).all())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 3.0), norm=norms, random_start=st.booleans())
def test_fgsm_stays_in_the_eps_ball_and_the_valid_range(seed, eps, norm, random_start):
    if norm == "linf":
        eps = min(eps, 1.0)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 1, 28, 28, generator=g) * (torch.rand(4, 1, 28, 28, generator=g) < 0.6)
    result = fgsm(frozen(TwoConvNet, seed % 3), x, torch.randint(0, 10, (4,), generator=g), eps=eps, norm=norm,
                  random_start=random_start, seed=seed)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    size = result.linf_norm if norm == "linf" else result.l2_norm
    assert bool((size <= eps * (1 + 1e-5) + 1e-6).all())


def test_projection_keeps_black_pixels_movable(net):
    # Pixels at 0 pushed below 0 must be projected back, not left outside the box where
    # a clamp inside the forward pass would give them a zero gradient forever.
    x = images(6, seed=5)
    y = torch.zeros(6, dtype=torch.long)
    seen = []

    def spy(inputs: torch.Tensor) -> torch.Tensor:
        seen.append(inputs.detach().clone())
        return net(inputs)

    pgd(spy, x, y, eps=0.1, steps=5)
    for inputs in seen:
        assert inputs.min() >= 0 and inputs.max() <= 1
        assert (inputs - x).abs().max() <= 0.1 + 1e-6


def trajectory(net, x, y, eps, step_size, steps):
    """The plain PGD iterate after ``steps`` steps from x (an unreachable stop threshold disables
    the fallback to earlier successful iterates)."""
    return pgd(net, x, y, eps=eps, steps=steps, step_size=step_size, random_start=False, stop_utility=1e9)


def test_early_stop_freezes_each_sample_at_its_first_success(net, batch):
    x, y = batch
    result = pgd(net, x, y, eps=0.2, steps=15, step_size=0.03, random_start=False, early_stop=True)
    assert result.success.all() and (result.steps_used >= 1).all()  # clean images are classified correctly
    for s in result.steps_used.unique().tolist():
        rows = (result.steps_used == s).nonzero().squeeze(1)
        # the returned iterate is the s-th one of the plain trajectory ...
        assert torch.allclose(trajectory(net, x[rows], y[rows], 0.2, 0.03, s).x_adv, result.x_adv[rows], atol=1e-5)
        # ... and no iterate among the first s - 1 steps succeeded (a plain run keeps any successful iterate)
        if s > 1:
            before = pgd(net, x[rows], y[rows], eps=0.2, steps=s - 1, step_size=0.03, random_start=False)
            assert not before.success.any()


def test_stop_utility_lands_each_image_in_its_band_after_a_gradient_step(net, batch):
    x, y = batch
    free = pgd(net, x, y, eps=0.2, steps=10, random_start=False)
    threshold = float(free.utility.median()) * 0.6
    result = pgd(net, x, y, eps=0.2, steps=10, step_size=0.05, random_start=False, stop_utility=threshold,
                 tolerance=0.05)
    assert result.params["stop_utility"] == threshold and result.params["tolerance"] == 0.05
    assert result.params["stop_rule"] == "utility"
    landed = result.success
    assert torch.equal(landed, (result.utility >= threshold) & (result.utility <= threshold + 0.05))
    assert landed.sum() >= len(x) // 2
    assert (result.steps_used[~landed] == 10).all() and (result.utility[~landed] < threshold).all()
    for s in result.steps_used[landed].unique().tolist():
        rows = (landed & (result.steps_used == s)).nonzero().squeeze(1)
        assert s >= 1  # the clean image has utility 0 < threshold
        # x' lies on the segment from the iterate before (short of U) to the s-th iterate of the plain trajectory
        before = trajectory(net, x[rows], y[rows], 0.2, 0.05, s - 1).x_adv - x[rows]
        after = trajectory(net, x[rows], y[rows], 0.2, 0.05, s).x_adv - x[rows]
        if s > 1:  # the iterate before is short of U (else the attack had stopped there)
            assert (trajectory(net, x[rows], y[rows], 0.2, 0.05, s - 1).utility < threshold).all()
        step = (after - before).flatten(1)
        along = ((result.perturbation[rows] - before).flatten(1) * step).sum(1) / (step * step).sum(1)
        assert ((along >= -1e-5) & (along <= 1 + 1e-5)).all()
        assert torch.allclose(before.flatten(1) + along[:, None] * step, result.perturbation[rows].flatten(1),
                              atol=1e-5)
    # and the utility uses the engine's value function
    assert torch.allclose(result.utility, result.clean_value - result.adv_value)
    assert torch.allclose(result.stop_drop, result.utility)
    assert torch.allclose(result.adv_value, class_value(net(result.x_adv), y, "log-odds"), atol=1e-5)


def test_stop_utility_never_returns_the_random_start(net, batch):
    # eps so large that the uniform start alone lowers v(N) past a small U on most images
    x, y = batch
    noise = pgd(net, x, y, eps=0.5, steps=1, step_size=1e-6, random_start=True, seed=3)
    threshold = 0.05
    assert (noise.utility >= threshold).sum() >= len(x) // 3
    result = pgd(net, x, y, eps=0.5, steps=20, random_start=True, seed=3, stop_utility=threshold, tolerance=0.02)
    assert result.success.all()
    assert (result.steps_used >= 1).all()
    assert ((result.utility >= threshold) & (result.utility <= threshold + 0.02)).all()


def test_paper_rule_lands_the_logit_drop_once_misclassified(net, batch):
    x, y = batch
    free = pgd(net, x, y, eps=0.3, steps=20, random_start=False, value="logit")
    threshold = float(free.utility.median()) * 0.7
    result = pgd(net, x, y, eps=0.3, steps=20, step_size=0.03, stop_utility=threshold, tolerance=0.1,
                 **PAPER_PRESET)
    assert result.params["stop_rule"] == "paper" and result.params["random_start"] is False
    drop = class_value(net(x), y, "logit") - class_value(net(result.x_adv), y, "logit")
    assert torch.allclose(result.stop_drop, drop, atol=1e-4)
    landed = result.success
    assert landed.any()
    assert torch.equal(landed, result.fooled & (drop >= threshold) & (drop <= threshold + 0.1))
    assert (result.steps_used[landed] >= 1).all()
    # the reported utility stays the value function's (log-odds), whatever the stop rule measured
    assert torch.allclose(result.utility, result.clean_value - result.adv_value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(stop_utility=0.0), "0.0"),
    (dict(stop_utility=2.0, tolerance=0.0), "tolerance must be a finite number > 0, got 0.0"),
    (dict(stop_utility=2.0, tolerance=-0.1), "-0.1"),
    (dict(stop_utility=2.0, stop_rule="logit"), "'logit'"),
    (dict(stop_utility=2.0, early_stop=True), "choose one"),
])
def test_bad_stop_settings_raise_a_value_error_naming_the_value(net, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pgd(net, images(4), [0, 1, 2, 3], eps=0.1, steps=2, **kwargs)


def test_stop_utility_with_another_value_function(net, batch):
    x, y = batch
    result = pgd(net, x, y, eps=0.2, steps=10, random_start=False, stop_utility=0.5, value="logit")
    drop = class_value(net(x), y, "logit") - class_value(net(result.x_adv), y, "logit")
    assert result.value == "logit" and torch.allclose(result.utility, drop, atol=1e-5)


def test_restarts_are_never_worse_than_one_run(net, batch):
    x, y = batch
    eps = 0.03
    one = pgd(net, x, y, eps=eps, steps=3, seed=7)
    many = pgd(net, x, y, eps=eps, steps=3, restarts=4, seed=7)
    assert (many.success >= one.success).all()
    failed = ~many.success
    assert failed.any()  # eps is small enough that the comparison below is not empty
    # utility (log-odds drop of the true class) ranks like the loss
    assert (many.utility[failed] >= one.utility[failed] - 1e-5).all()
    assert (many.utility[failed] > one.utility[failed] + 1e-3).any()  # other starts went further


class Bump(nn.Module):
    """Class 1 wins only while the first pixel u is near 0.6: logits (0, 1 - 100 (u - 0.6)^2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bump = 1 - 100 * (x[:, 0, 0, 0] - 0.6) ** 2
        return torch.stack([torch.zeros_like(bump), bump], 1)


def test_a_run_keeps_its_last_successful_iterate_when_a_later_step_undoes_it():
    # u: 0.3 -> 0.65 (class 1: success) -> 0.3 (class 0 again). The last iterate fails, the first succeeded.
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 0, 0] = 0.3
    result = pgd(Bump(), x, [0], eps=0.5, steps=2, step_size=0.35, random_start=False)
    assert result.success[0] and float(result.x_adv[0, 0, 0, 0]) == pytest.approx(0.65)
    assert result.steps_used[0] == 1
    assert torch.count_nonzero(result.perturbation) == 1


def test_targeted_pgd_reaches_its_targets_on_a_linear_model():
    g = torch.Generator().manual_seed(0)
    model = freeze(Affine(torch.randn(3, 784, generator=g) * 0.05, torch.zeros(3)))
    x = images(6, seed=2)
    y = model(x).argmax(1)
    target = (y + 1) % 3
    result = pgd(model, x, y, eps=0.3, steps=20, targeted=target, early_stop=True)
    assert torch.equal(result.adv_pred, target) and result.success.all()
    assert torch.equal(result.targets, target)
    one = pgd(model, x, y, eps=0.3, steps=20, targeted=2)  # one target for all
    assert torch.equal(one.targets, torch.full((6,), 2))


def test_identical_seeds_give_identical_results_and_others_differ(net, batch):
    x, y = batch
    first = pgd(net, x, y, eps=0.05, steps=3, restarts=2, seed=3)
    again = pgd(net, x, y, eps=0.05, steps=3, restarts=2, seed=3)
    other = pgd(net, x, y, eps=0.05, steps=3, restarts=2, seed=4)
    assert torch.equal(first.x_adv, again.x_adv) and torch.equal(first.steps_used, again.steps_used)
    assert not torch.equal(first.x_adv, other.x_adv)
    assert torch.equal(fgsm(net, x, y, eps=0.1, random_start=True, seed=5).x_adv,
                       fgsm(net, x, y, eps=0.1, random_start=True, seed=5).x_adv)


def test_pgd_perturb_matches_pgd_and_uses_the_given_generator(net, batch):
    x, y = batch
    x_adv, steps_used = pgd_perturb(net, x, y, eps=0.05, steps=4, generator=make_generator(11, "cpu"),
                                    check_last=True)
    result = pgd(net, x, y, eps=0.05, steps=4, seed=11)
    assert torch.equal(x_adv, result.x_adv) and torch.equal(steps_used, result.steps_used)
    assert torch.equal(fgsm_perturb(net, x, y, eps=0.05), fgsm(net, x, y, eps=0.05).x_adv)


def test_the_model_is_never_mutated():
    torch.manual_seed(0)
    model = TwoConvNet().train()  # parameters require gradients, training mode: as during adversarial training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = images(4), torch.arange(4)
    pgd(model, x, y, eps=0.1, steps=3, restarts=2, early_stop=True)
    fgsm(model, x, y, eps=0.1, random_start=True)
    pgd_perturb(model, x, y, eps=0.1, steps=2, stop_utility=0.1)
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LONG_FIELDS = ("labels", "clean_pred", "adv_pred", "clean_topk", "adv_topk", "steps_used")
FLOAT_FIELDS = ("clean_topk_prob", "adv_topk_prob", "utility", "linf_norm", "l2_norm", "clean_value", "adv_value")


def tensor_fields(result: AttackResult) -> dict[str, torch.Tensor]:
    return {f: getattr(result, f) for f in result.__dataclass_fields__ if getattr(result, f) is not None
            and f not in ("params", "value")}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("attack", [pgd, fgsm])
def test_result_fields_are_tensors_on_the_input_device(batch, attack, device):
    x, y = batch
    model = frozen(TwoConvNet).to(device)
    x = x[:4].to(device)
    for labels in (y[:4].to(device), y[:4].tolist(), y[:4]):  # a tensor on x's device, a list, a CPU tensor
        result = attack(model, x, labels, eps=0.1, targeted=[1, 2, 3, 4])
        fields = tensor_fields(result)
        assert set(fields) == set(LONG_FIELDS + FLOAT_FIELDS) | {"x_adv", "perturbation", "success", "targets"}
        for name, value in fields.items():
            assert isinstance(value, torch.Tensor) and value.device == x.device, name
            assert not value.requires_grad, name
        assert result.x_adv.dtype == result.perturbation.dtype == x.dtype
        assert all(fields[name].dtype == torch.long for name in LONG_FIELDS + ("targets",))
        assert all(fields[name].dtype == torch.float32 for name in FLOAT_FIELDS)
        assert result.success.dtype == torch.bool and result.fooled.dtype == torch.bool
        assert result.labels.tolist() == y[:4].tolist() and result.targets.tolist() == [1, 2, 3, 4]
        assert isinstance(result.success_rate, float) and isinstance(result.robust_accuracy, float)
    one = attack(model, x[:1], int(y[0]), eps=0.1)  # an int label: a batch of one
    assert one.labels.device == x.device and one.labels.tolist() == [int(y[0])]


def test_result_fields_and_json_round_trip(net, batch, tmp_path):
    x, y = batch
    result = pgd(net, x[:5], y[:5], eps=0.1, steps=4, targeted=3, top_k=3)
    assert result.x_adv.shape == result.perturbation.shape == (5, 1, 28, 28)
    assert result.clean_topk.shape == result.adv_topk_prob.shape == (5, 3)
    assert (result.adv_topk_prob.diff(dim=1) <= 0).all()
    assert torch.equal(result.adv_topk[:, 0], result.adv_pred)
    assert torch.equal(result.clean_pred, y[:5])
    assert torch.allclose(result.linf_norm, result.perturbation.abs().flatten(1).amax(1))
    assert torch.allclose(result.clean_images, x[:5], atol=1e-6)
    assert torch.equal(result.fooled, result.adv_pred != result.labels)
    assert result.success_rate == pytest.approx(result.success.float().mean().item())
    assert result.robust_accuracy == pytest.approx(1 - result.fooled.float().mean().item())
    assert result.clean_accuracy == 1.0  # the batch is classified correctly
    shown = result.amplified_perturbation()
    assert isinstance(shown, torch.Tensor) and shown.min() >= 0 and shown.max() <= 1
    assert torch.allclose((shown - 0.5).abs().flatten(1).amax(1), torch.full((5,), 0.5))
    back = Result.from_json(result.to_json())
    assert isinstance(back, AttackResult)
    for name in result.__dataclass_fields__:
        a, b = getattr(result, name), getattr(back, name)
        if isinstance(a, torch.Tensor):
            assert isinstance(b, torch.Tensor) and b.device.type == "cpu" and b.dtype == a.dtype, name
            assert torch.equal(a, b), name
        else:
            assert a == b, name
    path = tmp_path / "attack.json"
    result.to_json(path)
    assert torch.equal(load_result(path).x_adv, result.x_adv)
    one = result.select(2)
    assert len(one) == 1 and one.targets.tolist() == [3] and one.params["targeted"] == [3]
    assert torch.equal(one.x_adv[0], result.x_adv[2])
    picked = result.select(torch.tensor([True, False, True, False, False]))
    assert torch.equal(picked.utility, result.utility[[0, 2]]) and len(picked) == 2


def test_a_json_file_written_with_numpy_arrays_still_loads_as_tensors():
    def array(values, dtype, shape):
        return {"__ndarray__": values, "dtype": dtype, "shape": shape}

    fields = dict(x_adv=array([[[[0.25, 1.0]]]], "float32", [1, 1, 1, 2]),
                  perturbation=array([[[[0.25, -0.5]]]], "float32", [1, 1, 1, 2]),
                  labels=array([3], "int64", [1]), success=array([True], "bool", [1]),
                  clean_pred=array([3], "int64", [1]), adv_pred=array([1], "int64", [1]),
                  clean_topk=array([[3, 1]], "int64", [1, 2]), clean_topk_prob=array([[0.75, 0.25]], "float32", [1, 2]),
                  adv_topk=array([[1, 3]], "int64", [1, 2]), adv_topk_prob=array([[0.5, 0.5]], "float32", [1, 2]),
                  utility=array([1.5], "float32", [1]), steps_used=array([7], "int64", [1]),
                  linf_norm=array([0.5], "float32", [1]), l2_norm=array([0.5590169943749475], "float32", [1]),
                  params={"attack": "pgd", "eps": 0.5}, clean_value=array([2.0], "float32", [1]),
                  adv_value=array([0.5], "float32", [1]), targets=None, value="log-odds")
    old = AttackResult.from_json(json.dumps({"__result__": "AttackResult", **fields}))
    assert torch.equal(old.x_adv, torch.tensor([[[[0.25, 1.0]]]]))
    assert old.labels.dtype == torch.long and old.success.dtype == torch.bool and old.targets is None
    assert torch.equal(old.clean_images, torch.tensor([[[[0.0, 1.5]]]]))
    assert old.success_rate == 1.0 and old.robust_accuracy == 0.0 and old.steps_used.tolist() == [7]


def test_keyword_only_signatures_with_the_dashboards_defaults():
    for attack in (pgd, fgsm, pgd_perturb, fgsm_perturb):
        parameters = list(inspect.signature(attack).parameters.values())
        assert [p.name for p in parameters[:3]] == ["model", "x", "y"]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[3:]), attack.__name__
        assert inspect.signature(attack).parameters["eps"].default == DEFAULTS["eps"]
    assert inspect.signature(pgd).parameters["steps"].default == DEFAULTS["steps"]
    assert inspect.signature(pgd_perturb).parameters["steps"].default == DEFAULTS["steps"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(eps=-0.1), "-0.1"),
    (dict(eps=float("nan")), "nan"),
    (dict(steps=0), "steps must be an integer >= 1, got 0"),
    (dict(steps=2.5), "2.5"),
    (dict(norm="l1"), "'l1'"),
    (dict(restarts=0), "restarts"),
    (dict(step_size=-1.0), "-1.0"),
    (dict(targeted=10), "target class 10 out of range 0..9"),
    (dict(targeted=[1, 2]), "targets have length 2, expected 4"),
    (dict(y=[0, 1, 2]), "labels have length 3, expected 4"),
    (dict(y=[0, 1, 2, 12]), "label class 12 out of range"),
    (dict(x=torch.full((4, 1, 28, 28), 1.5)), "1.5"),
    (dict(x=torch.full((4, 1, 28, 28), -0.5)), "-0.5"),
    (dict(x=torch.zeros(1, 28, 28)), "(1, 28, 28)"),
    (dict(x=torch.zeros(4, 3, 32, 32)), "(4, 3, 32, 32)"),
    (dict(stop_utility=-1.0), "-1.0"),
    (dict(value="prob"), "'prob'"),
])
def test_bad_input_raises_a_value_error_naming_the_value(net, kwargs, message):
    args = dict(x=images(4), y=[0, 1, 2, 3], eps=0.1, steps=2)
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        pgd(net, **args)
    assert message in str(info.value)


def test_fgsm_rejects_bad_input(net):
    with pytest.raises(ValueError, match="-0.2"):
        fgsm(net, images(2), [0, 1], eps=-0.2)
    with pytest.raises(ValueError, match="'linf2'"):
        fgsm(net, images(2), [0, 1], eps=0.1, norm="linf2")
    with pytest.raises(ValueError, match=r"\[1, 2\]"):
        fgsm(net, images(2) * 0 + torch.tensor([1.0, 2.0]).view(2, 1, 1, 1), [0, 1], eps=0.1)


def test_running_all_steps_returns_the_final_iterate_when_it_succeeds(net, batch):
    x, y = batch
    result = pgd(net, x, y, eps=0.5, steps=6)                  # a budget that fools every image early on
    assert result.success.all() and (result.steps_used == 6).all()
    _, unchecked_steps = pgd_perturb(net, x, y, eps=0.5, steps=6, generator=make_generator(0, "cpu"))
    assert (unchecked_steps == 5).all()                        # without the last check: the last known success
