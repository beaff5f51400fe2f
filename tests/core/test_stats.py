"""mimi.core.stats, the one Student t quantile and the one delete-one jackknife every part of mimi uses."""

import numpy as np
import pytest

from mimi import analysis
from mimi.core.stats import Z95, jackknife_se, ratio_jackknife_se, t95, t_quantile

#: Student t 0.975 quantiles for 1..9 degrees of freedom (tables).
T975 = (12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252, 2.306004135,
        2.262157163)


def cornish_fisher_t975(df: int) -> float:
    """t_{0.975, df} by the Cornish-Fisher series in 1/df to 1/df⁴ (error < 1e-5 from df = 10 on)."""
    z = Z95
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3)
            + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / (92160 * df ** 4))


def test_t_quantiles_match_the_table_and_known_values():
    for df in range(1, 40):
        expected = T975[df - 1] if df <= len(T975) else cornish_fisher_t975(df)
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-5 if df >= 10 else 1e-9)
        assert t95(df) == analysis.t95(df) == t_quantile(0.975, df)
    assert t_quantile(0.9875, 3) == pytest.approx(4.176535, abs=1e-5)     # Bonferroni 97.5% two-sided, df 3
    assert t_quantile(0.995, 10) == pytest.approx(3.169273, abs=1e-5)
    assert analysis.Z95 == Z95
    for bad in ((0.5, 3), (1.0, 3), (0.975, 0)):
        with pytest.raises(ValueError):
            t_quantile(*bad)


def test_jackknife_is_the_delete_one_formula():
    rng = np.random.default_rng(0)
    numerator, denominator = rng.random((7, 3)), 1 + rng.random((7, 3))
    replicates = np.stack([numerator[np.arange(7) != b].sum(0) / denominator[np.arange(7) != b].sum(0)
                           for b in range(7)])
    expected = np.sqrt(6 / 7 * ((replicates - replicates.mean(0)) ** 2).sum(0))
    np.testing.assert_allclose(jackknife_se(replicates), expected, rtol=1e-12)
    np.testing.assert_allclose(ratio_jackknife_se(numerator, denominator), expected, rtol=1e-12)
    # the jackknife of a mean is the usual SE sd / sqrt(B)
    values = rng.random(9)
    means = np.array([np.delete(values, b).mean() for b in range(9)])
    assert jackknife_se(means) == pytest.approx(values.std(ddof=1) / 3)
