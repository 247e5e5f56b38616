"""README.md's two commands exist and .ci/run runs exactly the test one."""

import pathlib

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
