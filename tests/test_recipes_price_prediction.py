"""The price-prediction recipe: its data loaders, helpers and quick run."""

import math
import pathlib

import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets, price_prediction


def test_load_sunspots():
    years, values = load_or_skip(datasets.load_sunspots)
    assert len(years) == len(values) == 309
    np.testing.assert_array_equal(years, np.arange(1700, 2009))
    assert values.dtype == np.float64
    assert values.min() >= 0
    assert values[0] == 5.0 and values[-1] == 2.9 and values.max() == 190.2


def test_load_sp500():
    dates, close = load_or_skip(datasets.load_sp500)
    assert len(dates) == len(close) == 5031
    assert str(dates[0]) == "1999-01-04" and str(dates[-1]) == "2018-12-31"
    assert np.all(np.diff(dates).astype(int) > 0)
    assert close[0] == pytest.approx(1228.099976)
    assert 600 < close.min() < close.max() < 3000


def test_windows_are_shifted_by_one():
    series = np.arange(30.0)
    inputs, targets = price_prediction.windows(series, 0, 30, steps=5)
    assert inputs.shape == targets.shape == (25, 5, 1)
    np.testing.assert_array_equal(inputs[0, :, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(targets[0, :, 0], [1, 2, 3, 4, 5])
    # the last target of each window is the target index itself
    np.testing.assert_array_equal(targets[:, -1, 0], np.arange(5, 30))
    inputs, targets = price_prediction.windows(series, 20, 25, steps=5)
    np.testing.assert_array_equal(targets[:, -1, 0], np.arange(20, 25))


def test_ar_forecast_recovers_an_exact_autoregression():
    rng = np.random.default_rng(0)
    series = np.empty(200)
    series[:2] = rng.normal(size=2)
    noise = rng.normal(size=200)
    for t in range(2, 200):
        series[t] = 1.0 + 0.5 * series[t - 1] - 0.3 * series[t - 2] + noise[t]
    forecast = price_prediction.ar_forecast(series, 2, 150, 150, 200)
    exact = 1.0 + 0.5 * series[149:199] - 0.3 * series[148:198]
    assert np.abs(forecast - exact).max() < 0.5
    # and an exact (noise-free) series is fitted exactly
    clean = np.empty(60)
    clean[:2] = [1.0, 2.0]
    for t in range(2, 60):
        clean[t] = 0.2 + 0.9 * clean[t - 1] - 0.5 * clean[t - 2]
    forecast = price_prediction.ar_forecast(clean, 2, 40, 40, 60)
    np.testing.assert_allclose(forecast, clean[40:], atol=1e-8)


@pytest.mark.slow
def test_quick_run(tmp_path):
    load_or_skip(datasets.load_sunspots)
    load_or_skip(datasets.load_sp500)
    figures = price_prediction.run(quick=True, out=tmp_path)
    for key, value in figures.items():
        if key != "plots":
            assert math.isfinite(value), key
    # baselines are deterministic: 80/20 split of the sunspot years
    assert figures["sunspots_persistence_rmse"] == pytest.approx(33.28, abs=0.01)
    assert figures["sunspots_ar10_rmse"] == pytest.approx(19.53, abs=0.01)
    assert 0 < figures["sunspots_rmse"] < 200
    assert 0 < figures["sp500_rmse"] < 3 * figures["sp500_persistence_rmse"]
    assert 0 <= figures["sp500_direction_accuracy"] <= 1
    assert len(figures["plots"]) == 2
    for path in figures["plots"]:
        assert path.endswith(".png") and pathlib.Path(path).stat().st_size > 5000
