"""README.md's two commands exist and .ci/run runs exactly the test one,
which prints none of TensorFlow's start-up lines."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bash_commands(text):
    blocks = text.split("```bash\n")[1:]
    return [block.split("```")[0].strip() for block in blocks]


def test_readme_starts_with_main_job_and_test_command():
    commands = _bash_commands((ROOT / "README.md").read_text())
    main_job, tests = commands[0], commands[1]
    assert "examples/" in main_job or "keras_rnnkit.recipes" in main_job
    assert "pytest" in tests and "pip install" in tests


def test_ci_runs_the_readme_test_command():
    test_command = _bash_commands((ROOT / "README.md").read_text())[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_ci_sets_no_log_level_of_its_own():
    # The suite quiets TensorFlow itself (tests/conftest.py), so the README's
    # line needs nothing that .ci/run would set and a user's shell would not.
    assert "TF_CPP_MIN_LOG_LEVEL" not in (ROOT / ".ci" / "run").read_text()


def test_conftest_filters_what_the_recipes_filter():
    import conftest

    from keras_rnnkit import recipes

    assert conftest.STARTUP_INFO.pattern == recipes._STARTUP_INFO.pattern


@pytest.mark.tf_only  # one run is enough: the controller leaked on TensorFlow
def test_pytest_with_workers_prints_no_startup_lines():
    if importlib.util.find_spec("xdist") is None:
        pytest.skip("needs pytest-xdist: pip install -e '.[test]'")
    from keras_rnnkit import recipes

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider"),
            *("-k", "test_ci_runs_the_readme_test_command", __file__),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if recipes._STARTUP_INFO.match(line)] == []
