"""The metric registry: every metric's entry, `--metrics` parsing, scoring a selection."""

import math

import numpy as np
import pytest

from kind_tf2 import errors, metrics
from kind_tf2.metrics import catalog


def test_every_metric_says_what_it_measures_and_which_way_is_better():
    assert list(metrics.METRICS) == ["psnr", "ssim_rgb", "ssim_gray", "loe", "ciede2000", "niqe", "brisque"]
    better_high = {n for n, m in metrics.METRICS.items() if m.higher_is_better}
    assert better_high == {"psnr", "ssim_rgb", "ssim_gray"}
    assert {n for n, m in metrics.METRICS.items() if not m.reference} == {"niqe", "brisque"}
    for m in metrics.METRICS.values():
        assert m.measures and m.matches and m.header


def test_parse_metrics_defaults_and_errors():
    assert catalog.parse_metrics("default", paired=True) == ("psnr", "ssim_rgb", "ssim_gray", "loe", "ciede2000",
                                                             "niqe", "brisque")
    assert catalog.parse_metrics(None, paired=False) == ("niqe", "brisque")
    assert catalog.parse_metrics("niqe, psnr", paired=True) == ("niqe", "psnr")
    with pytest.raises(errors.ConfigError, match="^metrics=psnr: psnr need"):
        catalog.parse_metrics("psnr", paired=False)
    assert catalog.parse_metrics("psnr,default,niqe", paired=True)[:2] == ("psnr", "ssim_rgb")
    with pytest.raises(errors.ConfigError, match="^metrics=lpips: expected default or one of psnr"):
        catalog.parse_metrics("psnr,lpips", paired=True)
    with pytest.raises(errors.RegistryError, match="metric 'psnr' is defined twice"):
        catalog.register_metric("psnr", reference=True, higher_is_better=True, header="x", decimals=1,
                                measures="x", matches="x")(lambda a, b: 0.0)


def test_score_runs_the_selection_and_names_what_it_could_not_score():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    ref = np.clip(img.astype(int) + 9, 0, 255).astype(np.uint8)
    got = metrics.score(("psnr", "ciede2000", "brisque"), img, ref=ref)
    assert got["psnr"] == metrics.psnr(img, ref) and got["ciede2000"] == metrics.ciede2000(img, ref)
    assert got["brisque"] == metrics.brisque(img)
    # NIQE needs two 96x96 blocks: raised, or NaN and said when asked to go on.
    with pytest.raises(errors.DataError, match="40x60"):
        metrics.score(("niqe",), img)
    said = []
    got = metrics.score(("niqe",), img, inp=img, unscored=lambda column, err: said.append(column))
    assert math.isnan(got["niqe"]) and math.isnan(got["niqe_input"]) and said == ["niqe", "niqe_input"]
