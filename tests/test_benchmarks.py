"""The benchmark script runs (a smoke run on tiny shapes; no timing asserted)."""

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
    ):
        assert model in names
    assert len(rows) == 20
