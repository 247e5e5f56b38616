"""The benchmark script runs (a smoke run on tiny shapes; no timing asserted)."""

import importlib.util
import math
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.mark.tf_only
def test_bench_script_prints_a_ratio_for_every_model():
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--backends",
            "tensorflow",
            "--shapes",
            "tiny",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [
        line.split() for line in result.stdout.splitlines() if line.startswith("tiny")
    ]
    names = " ".join(" ".join(row) for row in rows)
    for model in (
        "PeepholeLSTM",
        "OutputProjectionWrapper",
        "DropoutWrapper",
        "ResidualWrapper",
        "MultiRNNCell",
        "TimeDistributed",
        "HierarchicalEncoder",
        "kit BiGRU, 20 slots",
        "keras BiGRU, 20 slots",
        "kit BiGRU, token ids, 20 slots",
        "embedding= inside, 20 slots",
    ):
        assert model in names
    assert "PeepholeLSTM(use_peepholes=F)" in names
    assert "PeepholeLSTMCell, Keras's loop" in names
    assert len(rows) == 26


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="the torch suite needs PyTorch: pip install -e '.[torch]'",
)
@pytest.mark.tf_only  # one run is enough: the script starts its own backend
def test_torch_suite_compares_with_plain_pytorch():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--suite", "torch", "--backends", "torch"]
        + ["--shapes", "tiny", "--repeats", "1"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("tiny")]
    # row F needs the compiled kernels (a C++ compiler): skipped, it says so
    kernels = "row F skipped" not in result.stdout
    assert len(rows) == 7 + kernels
    assert sum("compiled kernels" in row for row in rows) == kernels
    assert sum("LayerNormLSTM" in row for row in rows) == 1
    assert all("torch" in row.split()[1] for row in rows)
    assert sum("keras LSTM" in row.split("  ")[-1] for row in rows) == 1


@pytest.mark.tf_only
def test_length_batches_benchmark_prints_both_times_and_the_ratio():
    from helpers import load_or_skip

    from keras_rnnkit.recipes import datasets

    load_or_skip(datasets.load_japanese_vowels, "train")
    result = subprocess.run(
        [sys.executable, str(SCRIPT.parent / "length_batches.py"), "--repeats", "1"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "global padding" in result.stdout and "LengthBatches" in result.stdout
    assert "speed-up:" in result.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="the CRF benchmark's smoke run uses the torch backend: pip install -e '.[torch]'",
)
@pytest.mark.tf_only  # one run is enough: the script starts its own backend
def test_crf_benchmark_prints_every_row():
    script = SCRIPT.parent / "crf.py"
    result = subprocess.run(
        [sys.executable, str(script), "--backends", "torch", "--shapes", "tiny"]
        + ["--repeats", "1", "--rounds", "1"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("tiny")]
    labels = {" ".join(row.split()[2:5]) for row in rows}
    for what in ("kit ll+grad", "kit layer ll+grad", "kit decode"):
        assert any(label.startswith(what) for label in labels), what
    if importlib.util.find_spec("torchcrf") is not None:  # the baseline's ratio
        assert sum("pytorch-crf" in row.split("  ")[-1] for row in rows) == 3


@pytest.mark.tf_only  # one run is enough: the script starts its own backend
def test_seq2seq_benchmark_prints_a_ratio_for_every_row():
    script = SCRIPT.parent / "seq2seq.py"
    result = subprocess.run(
        [sys.executable, str(script), "--backends", "tensorflow", "--shapes", "tiny"]
        + ["--repeats", "1"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [  # what follows the shape and the backend
        " ".join(line.split()[2:])
        for line in result.stdout.splitlines()
        if line.split()[:2] == ["tiny", "tensorflow"]
    ]
    has_hub = importlib.util.find_spec("keras_hub") is not None
    expected = ["train, no attention", "train, luong", "train, bahdanau"]
    if has_hub:  # the kit's decoding rows have a ratio to keras-hub's
        expected += ["kit greedy", "kit beam 5"]
    for what in expected:
        found = [row for row in rows if row.startswith(what + " ")]
        assert len(found) == 1, (what, result.stdout)
        ratio = float(found[0].split()[-1])
        assert math.isfinite(ratio) and ratio > 0, found[0]
    hub_rows = [row for row in rows if row.startswith("keras-hub")]
    assert len(hub_rows) == 2, result.stdout
    if has_hub:
        assert result.stdout.count("same ids as keras-hub: yes") == 2, result.stdout
    else:
        assert all("skipped: keras-hub not installed" in row for row in hub_rows)


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="times torch operations: pip install -e '.[torch]'",
)
@pytest.mark.tf_only  # one run is enough: the script starts its own backend
def test_torch_products_benchmark_prints_both_ways_for_every_shape():
    result = subprocess.run(
        [sys.executable, str(SCRIPT.parent / "torch_products.py")]
        + ["--rounds", "1", "--calls", "3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if "no working oneDNN" in result.stderr:
        pytest.skip("this torch has no working oneDNN linear operations")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines() if "|" in line][1:]
    assert [row[:2] for row in rows] == [["32", "64"], ["64", "128"], ["128", "256"]]
    for row in rows:
        times = [float(value) for value in row if value.replace(".", "").isdigit()]
        assert len(times) == 2 + 7
        plain, onednn, ratio, back_plain, back_onednn, back_ratio, packing = times[2:]
        assert min(plain, onednn, back_plain, back_onednn, packing) > 0
        # each ratio is its row's oneDNN time over torch's (a cold first call
        # of 3 can make it 0.00), up to the rounding of the three printed
        for a, b, shown in (
            (plain, onednn, ratio),
            (back_plain, back_onednn, back_ratio),
        ):
            slack = 0.0051 + (b / a) * (0.051 / a + 0.051 / b)
            assert abs(shown - b / a) <= slack, (a, b, shown)
    assert "torch.tanh" in result.stdout and "torch.sigmoid" in result.stdout
