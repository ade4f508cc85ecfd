"""kind_tf2.stats against scipy (a test-only peer) and hand-worked cases."""

import numpy as np
import pytest

from kind_tf2 import stats


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
