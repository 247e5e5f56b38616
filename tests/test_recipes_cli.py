"""The recipes' command line: quiet, fast, and clear about bad arguments.

`--help` and `--list` run in a fresh interpreter, started the way a user
starts them (``python -m keras_rnnkit.recipes`` and the console script), and
must import no backend: that is what keeps them under a second or two.
"""

import importlib.util
import io
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from keras_rnnkit import recipes
from keras_rnnkit.recipes import _common

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ("keras", "tensorflow", "jax", "torch")


def clean_env():
    """The environment of a user's shell: no log level set by the tests."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def run_fresh(command, args):
    """Runs `command + args` with ``-X importtime``; returns the result, the
    modules it imported, its other stderr lines and its wall time."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        cwd=ROOT,
    )
    seconds = time.perf_counter() - start
    imported, other = set(), []
    for line in result.stderr.splitlines():
        if line.startswith("import time:"):
            imported.add(line.rsplit("|", 1)[-1].strip())
        else:
            other.append(line)
    return result, imported, other, seconds


def console_script(tmp_path):
    """A copy of the script pip writes for ``keras-rnnkit-recipes``."""
    script = tmp_path / "keras-rnnkit-recipes"
    script.write_text(
        "import sys\nfrom keras_rnnkit.recipes import main\nsys.exit(main())\n"
    )
    return [str(script)]


@pytest.mark.parametrize("how", ["module", "console-script"])
@pytest.mark.parametrize("args", [["--help"], ["--list"]])
def test_help_and_list_are_quiet_and_import_no_backend(how, args, tmp_path):
    command = (
        ["-m", "keras_rnnkit.recipes"] if how == "module" else console_script(tmp_path)
    )
    result, imported, other, seconds = run_fresh(command, args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keras_rnnkit.recipes" in imported  # the record is complete
    assert sorted(m for m in imported if m.split(".")[0] in BACKENDS) == []
    assert other == []  # no log line of any kind
    # Generous: well under a second on 2 idle cores; 8-20 s when the
    # package imported TensorFlow.
    assert seconds < 10
    if args == ["--list"]:
        for name in recipes.RECIPES:
            assert name in result.stdout
    else:
        assert "--epochs N" in result.stdout


_REGISTERED = """
import json, sys
{first}
before = 'keras' in sys.modules
{second}
names = sorted(k for k in keras.saving.get_custom_objects() if k.startswith('keras_rnnkit>'))
print(json.dumps([before, names]))
"""


@pytest.mark.parametrize("kit_first", [True, False])
def test_every_class_registers_once_keras_is_imported(kit_first):
    # `import keras_rnnkit` imports no backend (the recipes' command relies
    # on it) and reads nothing of how Python was started; the classes
    # register when Keras is imported, before or after the package.
    kit, keras_ = "import keras_rnnkit", "import keras"
    first, second = (kit, keras_) if kit_first else (keras_, kit)
    code = _REGISTERED.format(first=first, second=second)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean_env(), "KERAS_BACKEND": "jax"},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    keras_before, names = json.loads(result.stdout.splitlines()[-1])
    assert keras_before is not kit_first
    import keras

    import keras_rnnkit

    registered = [  # the public classes (layers, losses) Keras can reload
        name
        for module in (keras_rnnkit, keras_rnnkit.seq2seq)
        for name in module.__all__
        if isinstance(getattr(module, name), type)
        and keras.saving.get_registered_name(getattr(module, name))
        == f"keras_rnnkit>{name}"
    ]
    assert len(registered) >= 21
    assert names == sorted(f"keras_rnnkit>{name}" for name in registered)


def _every_registered_name():
    """The names under which the kit's public classes register."""
    import keras

    import keras_rnnkit

    return sorted(
        keras.saving.get_registered_name(getattr(module, name))
        for module in (keras_rnnkit, keras_rnnkit.seq2seq)
        for name in module.__all__
        if isinstance(getattr(module, name), type)
        and keras.saving.get_registered_name(getattr(module, name)).startswith(
            "keras_rnnkit>"
        )
    )


@pytest.mark.parametrize(
    "first, backend",
    [
        ("import keras_rnnkit.dynamic_rnn", "tensorflow"),
        ("import keras_rnnkit.dynamic_rnn", "torch"),
        ("from keras_rnnkit.recipes import encoder_decoder", "tensorflow"),
    ],
)
def test_every_class_registers_after_a_kit_module_that_imports_keras(first, backend):
    # The first import is a module of the kit that imports Keras itself: the
    # classes register when that import ends, before any public name is used
    # (a `.keras` file using any of them then reloads).
    code = _REGISTERED.format(
        first=first,
        second="import keras\n"
        "assert keras.saving.get_registered_object("
        "'keras_rnnkit>PeepholeLSTM') is not None",
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean_env(), "KERAS_BACKEND": backend},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    keras_before, names = json.loads(result.stdout.splitlines()[-1])
    assert keras_before
    assert names == _every_registered_name()


_FAILED_IMPORT = """
import sys
sys.modules['keras_rnnkit.peephole_lstm_cell'] = None  # its import fails
try:
    import keras_rnnkit.peephole_lstm
except ImportError as e:
    print(e.name)
import keras
print(keras.saving.get_registered_object('keras_rnnkit>DynamicRNN') is not None)
print(keras.saving.get_registered_object('keras_rnnkit>CRF') is not None)
del sys.modules['keras_rnnkit.peephole_lstm_cell']
import keras_rnnkit.peephole_lstm
print(keras.saving.get_registered_object('keras_rnnkit>CRF') is not None)
"""


def test_a_failed_kit_import_raises_and_registers_nothing_more():
    # The failed module's error comes through; the modules it imported
    # before failing (dynamic_rnn) keep their classes, but the others
    # register only once a kit import succeeds.
    result = subprocess.run(
        [sys.executable, "-c", _FAILED_IMPORT],
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean_env(), "KERAS_BACKEND": "jax"},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()[-4:]
    assert lines == ["keras_rnnkit.peephole_lstm_cell", "True", "False", "True"]


def test_no_arguments_names_what_is_missing(capsys):
    with pytest.raises(SystemExit) as exit_info:
        recipes.main([])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage:" in captured.err
    assert "error: name a recipe to run (NAME), or --list" in captured.err


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_epochs_must_be_a_positive_integer(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        recipes.main(["worked-example", "--epochs", value])
    assert exit_info.value.code == 2
    assert "error: argument --epochs: " in capsys.readouterr().err
    with pytest.raises(ValueError, match="`epochs` must be an integer >= 1"):
        recipes.run("worked-example", epochs=0)


def test_fit_verbosity_is_one_line_per_epoch_unless_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert _common.fit_verbosity() == 2
    assert _common.fit_verbosity(quick=True) == 2
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert _common.fit_verbosity() == 1
    assert _common.fit_verbosity(quick=True) == 2


def test_startup_info_filter_keeps_warnings_and_errors():
    info = (
        "I0000 00:00:1795912713.621350   18627 cudart_stub.cc:31] Could not find "
        "cuda drivers on your machine, GPU will not be used."
    )
    notice = (
        "WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR"
    )
    error = "E0000 00:00:1795912733.787975   20225 cuda_platform.cc:52] failed"
    assert recipes._STARTUP_INFO.match(info) and recipes._STARTUP_INFO.match(notice)
    assert not recipes._STARTUP_INFO.match(error)
    assert not recipes._STARTUP_INFO.match("Traceback (most recent call last):")


def test_the_names_static_readers_see_are_the_exported_ones():
    # One list of public names (`_EXPORTS`, whose keys are `__all__`); the
    # imports under TYPE_CHECKING spell the same names for type checkers
    # and the docs, which read the source without running it.
    import ast

    import keras_rnnkit

    assert keras_rnnkit.__all__ == list(keras_rnnkit._EXPORTS)
    tree = ast.parse(pathlib.Path(keras_rnnkit.__file__).read_text())
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    imported = {}
    for node in guarded.body:
        for alias in node.names:
            imported[alias.name] = node.module
    assert imported == {
        name: "keras_rnnkit" + (f".{module}" if module else "")
        for name, module in keras_rnnkit._EXPORTS.items()
    }


def test_a_quick_run_says_what_it_is(tmp_path, capsys):
    recipes.run("worked-example", quick=True, out=tmp_path)
    out = capsys.readouterr().out
    assert out.index("QUICK RUN (--quick): a smoke test") < out.index("worked example")
    assert "docs/recipes/worked-example.md" in out
    assert out.rstrip().endswith("docs/recipes/worked-example.md).")
    recipes.run("worked-example", quick=False, out=tmp_path)
    assert "QUICK RUN" not in capsys.readouterr().out


def test_a_run_on_another_backend_prints_no_tensorflow_startup_lines(tmp_path):
    # Keras's set_random_seed imports TensorFlow on every backend when it is
    # installed; its C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL.
    for package in ("torch", "tensorflow"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"needs {package} installed")
    result = subprocess.run(
        [sys.executable, "-m", "keras_rnnkit.recipes", "worked-example", "--quick"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean_env(), "KERAS_BACKEND": "torch"},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""
    assert "all within 1e-06" in result.stdout
