"""The recipes as a whole: one command, an example script and a docs page each.

Each recipe's own data and quick-run tests are in tests/test_recipes_<module>.py.
"""

import pathlib
import subprocess
import sys

import pytest

from keras_rnnkit import recipes

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_recipe_has_a_module_script_page_and_tests(name):
    module = recipes.load(name)
    assert callable(module.run)
    assert module.__doc__ and module.__doc__.strip().split("\n")[0]
    # `--list` prints the description without importing the module
    assert recipes.DESCRIPTIONS[name] == module.__doc__.strip().split("\n")[0]
    file = recipes.RECIPES[name]
    script = (ROOT / "examples" / f"{file}.py").read_text()
    assert f'main(["{name}", *sys.argv[1:]])' in script
    assert (ROOT / "docs" / "recipes" / f"{name}.md").is_file()
    assert f"recipes/{name}.md" in (ROOT / "mkdocs.yml").read_text()
    assert (ROOT / "tests" / f"test_recipes_{file}.py").is_file()


def test_examples_are_the_recipes_scripts():
    scripts = {p.stem for p in (ROOT / "examples").glob("*.py")}
    assert scripts == set(recipes.RECIPES.values())


def test_list_and_unknown_names(capsys):
    assert recipes.main(["--list"]) == 0
    listed = capsys.readouterr().out
    for name in recipes.RECIPES:
        assert name in listed
    with pytest.raises(SystemExit) as exit_info:
        recipes.main(["no-such-recipe"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'no-such-recipe'" in capsys.readouterr().err
    with pytest.raises(
        ValueError, match="Unknown recipe 'nope'. Available recipes: worked-example"
    ):
        recipes.load("nope")


def test_module_entry_point_and_console_script():
    result = subprocess.run(
        [sys.executable, "-m", "keras_rnnkit.recipes", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "--quick" in result.stdout
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'keras-rnnkit-recipes = "keras_rnnkit.recipes:main"' in pyproject
