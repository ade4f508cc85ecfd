"""kind_tf2.stats against scipy (a test-only peer) and hand-worked cases."""

import numpy as np
import pytest

from kind_tf2.studies import stats


def test_one_seed_interval_agrees_with_scipy_bootstrap():
    from scipy.stats import bootstrap

    x = np.random.default_rng(1).normal(20.0, 2.0, 15)  # e.g. PSNR of 15 eval images
    ours = stats.confidence_interval(x, n_boot=20000, seed=3)
    peer = bootstrap((x,), np.mean, confidence_level=0.95, n_resamples=20000, method="percentile",
                     random_state=np.random.default_rng(4)).confidence_interval
    width = peer.high - peer.low
    assert ours.mean == pytest.approx(x.mean())
    # Two Monte Carlo estimates of the same quantiles: equal within a few % of the width.
    assert abs(ours.low - peer.low) < 0.05 * width and abs(ours.high - peer.high) < 0.05 * width


def test_seeds_widen_the_interval():
    rng = np.random.default_rng(0)
    images = rng.normal(0, 1, 30)
    one_run = np.tile(images, (4, 1))  # four seeds that all gave the same scores
    shifted = one_run + rng.normal(0, 2.0, (4, 1))  # four seeds whose runs differ by a lot
    narrow, wide = stats.confidence_interval(one_run), stats.confidence_interval(shifted)
    assert (wide.high - wide.low) > 1.5 * (narrow.high - narrow.low)


def test_paired_difference_finds_a_shift_and_not_noise():
    rng = np.random.default_rng(2)
    ref = rng.normal(20, 3, (3, 15))  # 3 seeds x 15 images; images vary a lot
    better = ref + 0.3 + rng.normal(0, 0.05, ref.shape)  # a small, consistent gain
    same = ref + rng.normal(0, 0.05, ref.shape)
    d = stats.paired_difference(better, ref, n_boot=5000)
    assert d.low > 0.2 and d.high < 0.4 and d.p_value < 0.01
    n = stats.paired_difference(same, ref, n_boot=5000)
    assert n.low < 0 < n.high and n.p_value > 0.05
    assert stats.paired_difference(ref, ref, n_boot=500).p_value == 1.0
    # Unpaired, the same gain would drown in the spread between images.
    assert stats.confidence_interval(better).low < stats.confidence_interval(ref).high


def test_holm_by_hand():
    # m = 4, sorted 0.005, 0.01, 0.03, 0.04 -> 4 * 0.005 = 0.02, 3 * 0.01 = 0.03, 2 * 0.03 = 0.06,
    # max(0.06, 1 * 0.04) = 0.06 (step-down keeps them monotone).
    got = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.01, 0.9]).tolist() == [0.02, 0.9] and stats.holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def test_verdicts():
    tiny = stats.PairedDifference(0.01, 0.005, 0.02, 0.001, 0.95)
    assert stats.verdict(tiny, 0.001, margin=0.05, higher_is_better=True) == "no practical difference"
    big = stats.PairedDifference(0.5, 0.3, 0.7, 0.001, 0.95)
    assert stats.verdict(big, 0.004, margin=0.05, higher_is_better=True) == "better"
    assert stats.verdict(big, 0.004, margin=0.05, higher_is_better=False) == "worse"  # e.g. NIQE up
    assert stats.verdict(big, 0.2, margin=0.05, higher_is_better=True) == "not distinguishable"


def test_paired_interval_and_p_agree_with_scipy():
    from scipy.stats import bootstrap, ttest_rel, wilcoxon

    rng = np.random.default_rng(5)
    ref = rng.normal(20, 3, 40)
    var = ref + rng.normal(0.5, 1.0, 40)  # a moderate gain: t about 3
    ours = stats.paired_difference(var, ref, n_boot=20000, seed=1)
    d = var - ref
    peer = bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=20000, method="percentile",
                     random_state=np.random.default_rng(2)).confidence_interval
    width = peer.high - peer.low
    assert abs(ours.low - peer.low) < 0.05 * width and abs(ours.high - peer.high) < 0.05 * width
    # The bootstrap's p (shift method) and the classical paired tests tell the same story, to a factor.
    t_p, w_p = ttest_rel(var, ref).pvalue, wilcoxon(var, ref).pvalue
    assert ours.p_value < 0.05 and t_p < 0.05 and w_p < 0.05
    assert 1 / 4 < ours.p_value / t_p < 4, (ours.p_value, t_p)
    noise = ref + rng.normal(0.0, 1.0, 40)
    assert stats.paired_difference(noise, ref, n_boot=5000).p_value > 0.05 and ttest_rel(noise, ref).pvalue > 0.05


def test_two_level_bootstrap_against_a_loop():
    # An independent two-level resampler written as plain loops: seeds drawn with replacement, then images.
    rng = np.random.default_rng(7)
    cells = rng.normal(0, 1, (3, 12)) + rng.normal(0, 1.5, (3, 1))  # 3 seeds that differ, 12 images
    draw = np.random.default_rng(11)
    reps = []
    for _ in range(20000):
        seeds = [int(draw.integers(0, 3)) for _ in range(3)]
        images = [int(draw.integers(0, 12)) for _ in range(12)]
        reps.append(np.mean([cells[s, i] for s in seeds for i in images]))
    low, high = np.quantile(reps, [0.025, 0.975])
    ours = stats.confidence_interval(cells, n_boot=20000, seed=3)
    width = high - low
    assert abs(ours.low - low) < 0.05 * width and abs(ours.high - high) < 0.05 * width
