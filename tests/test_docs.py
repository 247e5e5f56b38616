"""Every ```python block of README.md and docs/ runs, top to bottom per file."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page):
    blocks = BLOCK.findall(page.read_text())
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"{page.name} block {number}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{page.name}, python block {number} fails") from e


def test_every_public_name_has_an_api_page():
    import keras_rnnkit

    api = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    for name in keras_rnnkit.__all__:
        assert f"::: keras_rnnkit.{name}" in api, f"no docs/api page for {name}"
