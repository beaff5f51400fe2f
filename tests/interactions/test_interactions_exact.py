"""Exact interactions against brute-force definitions and the identities of PAPER.md."""

import itertools
import math

import numpy as np
import pytest

from mimi.interactions import (EXACT_LIMIT, all_masks, efficiency_decomposition, exact_order_interactions,
                               exact_shapley, exact_shapley_interaction, exact_values, interaction_weights,
                               order_marginals_from_values)


def table_game(n, seed=0, games=None):
    """A random game: an independent normal value for every coalition (G games if ``games``)."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(2 ** n,) if games is None else (2 ** n, games))
    weights = 1 << np.arange(n)
    return lambda masks: table[masks.astype(np.int64) @ weights], table


def brute_interaction(table, n, i, j, m):
    others = [k for k in range(n) if k not in (i, j)]
    deltas = []
    for context in itertools.combinations(others, m):
        b = sum(1 << k for k in context)
        deltas.append(table[b | 1 << i | 1 << j] - table[b | 1 << i] - table[b | 1 << j] + table[b])
    return np.mean(deltas, axis=0)


def brute_shapley(table, n, i):
    total = 0.0
    for size in range(n):
        for context in itertools.combinations([k for k in range(n) if k != i], size):
            b = sum(1 << k for k in context)
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            total = total + weight * (table[b | 1 << i] - table[b])
    return total


@pytest.mark.parametrize("n", [2, 3, 6])
def test_order_interactions_match_the_definition(n):
    v, table = table_game(n, seed=n)
    interactions = exact_order_interactions(v, n)
    assert interactions.shape == (n - 1, n, n) and interactions.dtype == np.float64
    for i, j in itertools.permutations(range(n), 2):
        for m in range(n - 1):
            assert interactions[m, i, j] == pytest.approx(brute_interaction(table, n, i, j, m), abs=1e-12)
    assert np.all(interactions[:, np.arange(n), np.arange(n)] == 0)
    np.testing.assert_allclose(interactions, interactions.transpose(0, 2, 1), atol=1e-15)


def test_several_games_on_shared_masks_carry_a_trailing_axis():
    n = 5
    v, table = table_game(n, seed=3, games=2)
    interactions = exact_order_interactions(v, n)
    assert interactions.shape == (n - 1, n, n, 2)
    for g in range(2):
        single = exact_order_interactions(lambda masks: v(masks)[:, g], n)
        np.testing.assert_allclose(interactions[..., g], single, atol=1e-14)
    assert exact_shapley(v, n).shape == (n, 2)


def test_shapley_and_shapley_interaction_index():
    n = 6
    v, table = table_game(n, seed=11)
    phi = exact_shapley(v, n)
    np.testing.assert_allclose(phi, [brute_shapley(table, n, i) for i in range(n)], atol=1e-12)
    sii = exact_shapley_interaction(v, n)
    i, j = 1, 4
    expected = sum(math.factorial(s) * math.factorial(n - s - 2) / math.factorial(n - 1)
                   * brute_interaction(table, n, i, j, s) * math.comb(n - 2, s) for s in range(n - 1))
    assert sii[i, j] == pytest.approx(expected, abs=1e-12)


def test_shapiq_is_a_second_oracle_for_the_shapley_interaction_index():
    shapiq = pytest.importorskip("shapiq", reason="shapiq is a test-only extra")
    n = 5
    v, _ = table_game(n, seed=5)
    values = shapiq.ExactComputer(n_players=n, game=v)(index="SII", order=2).dict_values
    ours = exact_shapley_interaction(v, n)
    for (i, j) in itertools.combinations(range(n), 2):
        assert ours[i, j] == pytest.approx(values[(i, j)], abs=1e-10)


def test_efficiency_holds_to_float_precision():
    n = 8
    v, table = table_game(n, seed=2)
    scaled = lambda masks: 100.0 * v(masks)
    result = efficiency_decomposition(scaled, n)
    assert abs(result.residual) < 1e-9
    assert result.mask_rows == 2 ** n
    total = result.v_full - result.v_empty
    assert total == pytest.approx(result.phi0.sum() + result.order_totals.sum(), abs=1e-9)
    assert result.shapley.sum() == pytest.approx(total, abs=1e-9)
    assert result.order_totals.shape == (n - 1,)


def test_efficiency_for_several_games():
    n = 6
    v, _ = table_game(n, seed=4, games=3)
    result = efficiency_decomposition(v, n)
    assert result.residual.shape == (3,)
    assert np.all(np.abs(result.residual) < 1e-9)


def test_accumulation_and_marginal_contribution():
    n = 7
    v, _ = table_game(n, seed=9)
    values = exact_values(v, n)
    interactions = exact_order_interactions(v, n)
    marginals = order_marginals_from_values(values, n)           # φ^(m)(i), m = 0..n-1
    phi = exact_shapley(v, n)
    mean_over_j = interactions.sum(axis=2) / (n - 1)            # E_{j≠i} I^(m)(i, j): (n-1, n)
    # marginal contribution: φ^(m+1)(i) - φ^(m)(i) = E_{j≠i} I^(m)(i, j)
    np.testing.assert_allclose(marginals[1:] - marginals[:-1], mean_over_j, atol=1e-12)
    # accumulation: φ(i) = φ^(0)(i) + Σ_{j≠i} Σ_m J^(m)(i, j), J^(m) = (n-1-m)/(n(n-1)) I^(m)
    weights = interaction_weights(n)
    np.testing.assert_allclose(phi, marginals[0] + np.einsum("m,mij->i", weights, interactions), atol=1e-12)
    np.testing.assert_allclose(marginals[0], values[1 << np.arange(n)] - values[0], atol=1e-15)


def test_dummy_player_has_no_interactions():
    n, dummy = 6, 2
    v, _ = table_game(n, seed=7)
    without_dummy = lambda masks: v(np.where(np.arange(n) == dummy, False, masks))
    interactions = exact_order_interactions(without_dummy, n)
    assert np.all(np.abs(interactions[:, dummy, :]) < 1e-12)
    assert abs(exact_shapley(without_dummy, n)[dummy]) < 1e-12
    assert np.abs(interactions).max() > 0.1


def test_additive_game_has_zero_interactions_and_a_product_game_is_known():
    n = 5
    weights = np.arange(1.0, n + 1)
    additive = lambda masks: masks @ weights
    assert np.abs(exact_order_interactions(additive, n)).max() < 1e-12
    np.testing.assert_allclose(exact_shapley(additive, n), weights, atol=1e-12)
    both = lambda masks: (masks[:, 0] & masks[:, 1]).astype(float)   # v = 1 iff players 0 and 1 present
    interactions = exact_order_interactions(both, n)
    np.testing.assert_allclose(interactions[:, 0, 1], 1.0)
    assert np.abs(interactions[:, 2:, :]).max() == 0


def test_masks_are_in_bitmask_order_and_games_are_called_in_chunks():
    masks = all_masks(3)
    assert masks[5].tolist() == [True, False, True]
    calls = []
    v, table = table_game(6, seed=1)

    def recording(m):
        calls.append(len(m))
        return v(m)

    np.testing.assert_array_equal(exact_values(recording, 6, batch_rows=10), table)
    assert max(calls) <= 10 and sum(calls) == 64


def test_exact_limit_names_the_alternative():
    with pytest.raises(ValueError, match=rf"n=17.*{EXACT_LIMIT}.*sample_order_interactions"):
        exact_order_interactions(lambda m: np.zeros(len(m)), 17)
    with pytest.raises(ValueError, match="at least 2 players"):
        exact_order_interactions(lambda m: np.zeros(len(m)), 1)
    with pytest.raises(ValueError, match="shape"):
        exact_order_interactions(lambda m: np.zeros((len(m), 2, 2)), 3)
