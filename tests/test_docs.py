"""The documentation: its code runs, its site builds, its migration table is whole.

- Every ```python block of README.md and docs/ runs, top to bottom per file
  (the blocks of one page share a namespace), and imports what it uses: a
  block that takes names from an earlier one says so in its first line. A
  page with an HTML comment `<!-- slow -->` is tested as `slow` (CI runs
  slow tests on TensorFlow only); keep pages fast.
- `mkdocs build --strict` passes (mkdocs-material + mkdocstrings, the `docs`
  extra): broken links, pages missing from the nav and docstrings that
  mkdocstrings cannot parse are errors.
- docs/migration.md has a row for every TensorFlow symbol the tutorial uses.
"""

import builtins
import importlib.util
import os
import pathlib
import re
import subprocess
import symtable
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
SLOW = "<!-- slow -->"


def _page_param(page):
    marks = [pytest.mark.slow] if SLOW in page.read_text() else []
    return pytest.param(page, marks=marks, id=str(page.relative_to(ROOT)))


# TensorFlow only: the blocks are backend-agnostic Keras code, and the same
# layers run on JAX in the contract tests; running every page again on JAX
# would cost CI minutes it does not have.
@pytest.mark.tf_only
@pytest.mark.parametrize("page", [_page_param(p) for p in PAGES])
def test_python_blocks_run(page):
    blocks = BLOCK.findall(page.read_text())
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"{page.name} block {number}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{page.name}, python block {number} fails") from e


USES = re.compile(r"# Uses (.+) from the blocks? above\.")


def _names_from_elsewhere(code):
    """Names a block reads but neither defines nor imports (builtins aside)."""
    top = symtable.symtable(code, "block", "exec")

    def own(symbol):
        return symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()

    defined = {s.get_name() for s in top.get_symbols() if own(s)}
    read = set()

    def walk(table):
        for symbol in table.get_symbols():
            top_level = table is top and symbol.is_referenced() and not own(symbol)
            if top_level or (table is not top and symbol.is_global()):
                read.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    walk(top)
    return {n for n in read - defined if not hasattr(builtins, n)}


@pytest.mark.parametrize("page", [_page_param(p) for p in PAGES])
def test_every_block_runs_on_its_own_or_says_what_it_takes(page):
    # A reader copies one block: it imports what it uses, and a block that
    # continues an earlier one starts with "# Uses a, b and c from the block
    # above." (docs/deploy.md's export examples share one model).
    for number, code in enumerate(BLOCK.findall(page.read_text()), 1):
        said = USES.match(code.split("\n", 1)[0])
        taken = set(re.split(r", | and ", said.group(1))) if said else set()
        missing = _names_from_elsewhere(code) - taken
        assert not missing, (
            f"{page.name}, python block {number} uses {sorted(missing)}, "
            "which it neither defines nor imports"
        )


def test_every_public_name_has_an_api_page():
    import keras_rnnkit

    api = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    for name in keras_rnnkit.__all__:
        assert f"::: keras_rnnkit.{name}" in api, f"no docs/api page for {name}"


# -- the site ---------------------------------------------------------------

_DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers")


@pytest.mark.tf_only  # one build is enough; it does not depend on the backend
def test_site_builds_strictly(tmp_path):
    missing = [p for p in _DOCS_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(
            f"building the site needs {', '.join(missing)}: pip install -e '.[docs]'"
        )
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", tmp_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, (
        "mkdocs build --strict failed:\n" + result.stdout + result.stderr
    )
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "api" / "PeepholeLSTMCell" / "index.html").exists()


def test_concept_pages_link_to_api_and_recipes():
    for page in sorted((ROOT / "docs" / "concepts").glob("*.md")):
        text = page.read_text()
        assert "](../api/" in text, f"{page.name} links to no API page"
        assert "](../recipes/" in text, f"{page.name} links to no recipe page"


# -- the migration guide ----------------------------------------------------

# Every TensorFlow symbol of the tutorial (../shared/seeds/000_5f9fc207e3461812.txt,
# not part of this repository), extracted with
#     grep -o 'tf\.[A-Za-z0-9_.]*' 000_5f9fc207e3461812.txt | sort -u
# plus `fully_connected`, which the tutorial calls without its module
# (tf.contrib.layers). Of these, the RNN API proper (tf.nn.*, tf.contrib.rnn.*;
# the tutorial names no rnn_cell.* symbol) is TUTORIAL_RNN_SYMBOLS.
TUTORIAL_RNN_SYMBOLS = {
    # TF1 symbol: its TF 2 name under tf.compat.v1 (None: contrib only)
    "tf.contrib.rnn.BasicLSTMCell": "tf.compat.v1.nn.rnn_cell.BasicLSTMCell",
    "tf.contrib.rnn.BasicRNNCell": "tf.compat.v1.nn.rnn_cell.BasicRNNCell",
    "tf.contrib.rnn.DropoutWrapper": "tf.compat.v1.nn.rnn_cell.DropoutWrapper",
    "tf.contrib.rnn.GRUCell": "tf.compat.v1.nn.rnn_cell.GRUCell",
    "tf.contrib.rnn.LSTMCell": "tf.compat.v1.nn.rnn_cell.LSTMCell",
    "tf.contrib.rnn.LSTMStateTuple": "tf.compat.v1.nn.rnn_cell.LSTMStateTuple",
    "tf.contrib.rnn.MultiRNNCell": "tf.compat.v1.nn.rnn_cell.MultiRNNCell",
    "tf.contrib.rnn.OutputProjectionWrapper": None,
    "tf.contrib.rnn.static_rnn": "tf.compat.v1.nn.static_rnn",
    "tf.nn.bidirectional_dynamic_rnn": "tf.compat.v1.nn.bidirectional_dynamic_rnn",
    "tf.nn.dynamic_rnn": "tf.compat.v1.nn.dynamic_rnn",
    "tf.nn.embedding_lookup": None,
    "tf.nn.relu": None,
    "tf.nn.softmax": None,
    "tf.nn.softmax_cross_entropy_with_logits": None,
}
TUTORIAL_OTHER_SYMBOLS = [
    "tf.Session",
    "tf.argmax",
    "tf.cast",
    "tf.concat",
    "tf.contrib.layers.dropout",
    "tf.device",
    "tf.equal",
    "tf.float32",
    "tf.get_variable",
    "tf.int32",
    "tf.layers.dense",
    "tf.name_scope",
    "tf.placeholder",
    "tf.placeholder_with_default",
    "tf.reduce_mean",
    "tf.reshape",
    "tf.square",
    "tf.stack",
    "tf.train.AdamOptimizer",
    "tf.transpose",
    "tf.unstack",
    "fully_connected",
]


def _table_rows(text):
    """The cells of every body row of every Markdown table in `text`."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.fullmatch(r"[|\s:-]+", line):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _mentions(cell, symbol):
    """Whether `cell` holds `symbol` as code: `sym` or `sym(...)`."""
    return re.search(r"`" + re.escape(symbol) + r"[`(]", cell) is not None


@pytest.mark.parametrize(
    "symbol", [*TUTORIAL_RNN_SYMBOLS, *TUTORIAL_OTHER_SYMBOLS], ids=str
)
def test_migration_table_covers_the_tutorial(symbol):
    rows = _table_rows((ROOT / "docs" / "migration.md").read_text())
    found = [row for row in rows if _mentions(row[0], symbol)]
    assert found, f"docs/migration.md has no table row for `{symbol}`"
    row = found[0]
    assert len(row) >= 3 and row[-2], f"the row of `{symbol}` has no replacement"
    compat = TUTORIAL_RNN_SYMBOLS.get(symbol)
    if compat is not None:
        assert _mentions(row[1], compat), f"the row of `{symbol}` lacks `{compat}`"
