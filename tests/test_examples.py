"""The example scripts run end to end in their quick mode."""

import importlib.util
import pathlib
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_digits_rows_quick(tmp_path, capsys):
    for package in ("sklearn", "matplotlib"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"examples need {package}: pip install -e '.[examples]'")
    module = runpy.run_path(str(ROOT / "examples" / "digits_rows.py"))
    report = module["main"](["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "reloaded model gives the same predictions: True" in out
    assert (tmp_path / "validation_accuracy.png").stat().st_size > 1000
    for _, accuracy, _, _ in report.values():
        assert 0.1 < accuracy <= 1.0  # two epochs: better than chance


@pytest.mark.slow
def test_encoder_decoder_quick(tmp_path, capsys):
    module = runpy.run_path(str(ROOT / "examples" / "encoder_decoder.py"))
    accuracy = module["main"](["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "same outputs: True" in out
    assert 1 / 10 < accuracy <= 1.0  # two short epochs: above chance
