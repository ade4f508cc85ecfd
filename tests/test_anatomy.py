"""The loss anatomy on 3 real LOL images at 2 strengths: properties of the terms that are maths, not tuning."""

import numpy as np
import pytest

from kind_tf2.studies import anatomy


@pytest.fixture(scope="module")
def measured(real_lol, tmp_path_factory):
    import os

    cfg = anatomy.AnatomyConfig(images=os.path.join(real_lol, "eval15", "high"), out=str(tmp_path_factory.mktemp("an")),
                                low_images=os.path.join(real_lol, "eval15", "low"), strengths=2, max_images=3, size=64,
                                terms="l1,l2,color,exposure,tv,ssim,grad,charbonnier",
                                distortions="brightness,noise,blur,cast,lowlight")
    return anatomy.run(cfg, log=lambda line: None), cfg


def _response(result, term, distortion):
    return [v for _, v in anatomy.mean_response(result.rows, term, distortion)]


def test_pixel_losses_rise_with_noise_and_brightness_error(measured):
    result, _ = measured
    for term in ("l1", "l2"):
        for distortion in ("noise", "brightness"):
            r = _response(result, term, distortion)
            assert r[0] == 0.0 and r[0] < r[1] < r[2], (term, distortion, r)


def test_colour_angle_ignores_brightness_and_sees_a_cast(measured):
    result, _ = measured
    brightness, cast = _response(result, "color", "brightness"), _response(result, "color", "cast")
    assert max(abs(v) for v in brightness) < 1e-3 * cast[-1], brightness  # scaling keeps every RGB direction
    assert cast[0] < cast[1] < cast[2]


def test_exposure_follows_brightness_not_zero_mean_noise(measured):
    result, _ = measured
    noise, brightness = _response(result, "exposure", "noise"), _response(result, "exposure", "brightness")
    assert abs(noise[-1] - noise[0]) < 0.2 * abs(brightness[-1] - brightness[0]), (noise, brightness)


def test_total_variation_falls_under_blur(measured):
    result, _ = measured
    r = _response(result, "tv", "blur")
    assert r[0] > r[1] > r[2], r


def test_files_and_summary(measured):
    import os

    result, cfg = measured
    for name in ("anatomy.csv", "metrics.csv", "responses.png", "heatmaps.png", "correlations.md", "summary.md"):
        assert os.path.getsize(os.path.join(cfg.out, name)) > 0, name
    assert any(line.startswith("- **brightness**") for line in result.summary)
    # 3 images x 5 distortions x 3 levels x 8 terms
    assert len(result.rows) == 3 * 5 * 3 * 8
    # PSNR falls as l2 rises: the rank correlation of l2 with PSNR is strongly negative (PSNR = -10 log10 MSE).
    assert result.correlations["l2"]["psnr"] < -0.9


def test_a_rerun_reads_every_image_back_and_new_settings_measure_again(measured):
    import dataclasses

    result, cfg = measured
    lines = []
    again = anatomy.run(cfg, log=lines.append)
    assert sum("(measured earlier)" in line for line in lines) == 3
    import json

    assert again.rows == result.rows  # NIQE is NaN at 64 px: compare the correlations as text
    assert json.dumps(again.correlations, sort_keys=True) == json.dumps(result.correlations, sort_keys=True)
    lines = []
    anatomy.run(dataclasses.replace(cfg, distortions="brightness", terms="l1", max_images=1), log=lines.append)
    assert not any("(measured earlier)" in line for line in lines)


def test_spearman_equals_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(size=40)
    b[:10] = a[:10] * 3  # some agreement
    a[5:9] = 1.0  # ties
    assert anatomy.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_perceptual_is_measured_with_vgg_weights_and_named_without(real_lol, tmp_path):
    import os

    import keras

    from kind_tf2 import errors

    high, low = os.path.join(real_lol, "eval15", "high"), os.path.join(real_lol, "eval15", "low")
    cfg = anatomy.AnatomyConfig(images=high, out=str(tmp_path / "a"), low_images=low, strengths=1, max_images=1,
                                size=48, terms="l1,perceptual", distortions="noise",
                                vgg_weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(errors.KindError, match="missing.weights.h5"):
        anatomy.run(cfg, log=lambda line: None)
    # Random weights: enough to show the term is measured (the values are not ImageNet features).
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    cfg.vgg_weights = str(tmp_path / "vgg19_random.weights.h5")
    vgg.save_weights(cfg.vgg_weights)
    result = anatomy.run(cfg, log=lambda line: None)
    r = _response(result, "perceptual", "noise")
    assert r[0] == 0.0 and r[1] > 0.0, r
    cfg.vgg_weights, cfg.terms = None, None  # every term: perceptual is left out, and says why
    chosen, skipped = anatomy.choose_terms(cfg, True, 48)
    assert "perceptual" not in chosen and ("perceptual", "needs vgg_weights") in skipped
