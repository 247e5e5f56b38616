"""The attention view of the recipes: HTML page and PNG of a shaded document.

The browser test opens the page in a real headless Chromium when one is
installed (`chromium`, `chromium-browser`, `google-chrome` or
`headless_shell` on PATH) and skips otherwise.
"""

import html
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib")
# Recipe code, backend-independent: CI runs it on TensorFlow only.
pytestmark = pytest.mark.recipes

from keras_rnnkit.recipes import attention_view as view  # noqa: E402

ORANGE = "rgba(255, 140, 0, "
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ENGLISH = [["the", "<script>alert(1)</script>", "&", "cat"], ["sat", "down"]]
# Padded as the model saw it: 3 sentence slots of 5 words.
ENGLISH_WORDS = np.array(
    [[0.1, 0.4, 0.2, 0.3, 0.0], [0.75, 0.25, 0.0, 0.0, 0.0], [0.0] * 5]
)
ENGLISH_SENTENCES = np.array([0.8, 0.2, 0.0])

CHINESE = [list("我们今天去北京"), list("天气很好")]
CHINESE_WORDS = np.zeros((3, 8))
CHINESE_WORDS[0, :7] = np.arange(1, 8) / 28
CHINESE_WORDS[1, :4] = 0.25
CHINESE_SENTENCES = np.array([0.6, 0.4, 0.0])


def _words(page):
    """(text, alpha, title) of every word span of a page."""
    spans = re.findall(
        r'<span class="word[^"]*"[^>]*title="([^"]*)"[^>]*'
        r'rgba\(255, 140, 0, ([0-9.]+)\)">(.*?)</span>',
        page,
    )
    return [(html.unescape(text), float(alpha), title) for title, alpha, text in spans]


def test_html_is_standalone_utf8_and_escapes_every_token():
    page = view.render_html(
        ENGLISH, ENGLISH_WORDS, ENGLISH_SENTENCES, title="A <b> & c", caption="x<y"
    )
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page and '<html lang="en">' in page
    assert '<div class="document" lang="en">' in page
    # No scripts, no external resources: only inline CSS.
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert ">&amp;</span>" in page
    assert "<title>A &lt;b&gt; &amp; c</title>" in page and "x&lt;y" in page
    assert [w[0] for w in _words(page)] == [t for s in ENGLISH for t in s]


def test_words_are_shaded_relative_to_the_strongest_of_their_sentence():
    page = view.render_html(ENGLISH, ENGLISH_WORDS, ENGLISH_SENTENCES)
    words = _words(page)
    alphas = [alpha for _, alpha, _ in words]
    np.testing.assert_allclose(alphas, [0.25, 1.0, 0.5, 0.75, 1.0, 1 / 3], atol=1e-3)
    # The tooltip gives the exact weight, not the shade.
    assert words[0][2] == "word weight 0.100000"
    assert words[5][2] == "word weight 0.250000"
    # Sentences: a left bar shaded relative to the strongest sentence.
    bars = re.findall(r"border-left-color: rgba\(31, 119, 180, ([0-9.]+)\)", page)
    assert [float(b) for b in bars] == [1.0, 0.25]  # only the 2 real sentences
    assert 'title="sentence 2, weight 0.200000"' in page


def test_all_zero_weights_draw_unshaded():
    page = view.render_html([["a", "b"]], np.zeros((1, 2)), np.zeros(1))
    assert [alpha for _, alpha, _ in _words(page)] == [0.0, 0.0]


def test_out_of_vocabulary_words_are_marked():
    page = view.render_html(
        ENGLISH, ENGLISH_WORDS, ENGLISH_SENTENCES, vocabulary={"the", "cat", "sat"}
    )
    oov = re.findall(r'<span class="word oov"[^>]*>(.*?)</span>', page)
    assert [html.unescape(w) for w in oov] == [
        "<script>alert(1)</script>",
        "&",
        "down",
    ]
    assert "(out of vocabulary)" in page and "font-style: italic" in page


def test_chinese_characters_are_joined_without_spaces():
    page = view.render_html(CHINESE, CHINESE_WORDS, CHINESE_SENTENCES)
    assert '<div class="document" lang="zh">' in page
    text = re.sub(r"<[^>]+>", "", page)
    assert "我们今天去北京" in text and "天气很好" in text
    spaced = view.render_html(CHINESE, CHINESE_WORDS, CHINESE_SENTENCES, joiner=" ")
    assert "我们今天去北京" not in re.sub(r"<[^>]+>", "", spaced)
    # Japanese (kana) and explicit languages.
    assert 'lang="ja"' in view.render_html([list("ねこ")], np.ones((1, 2)), [1.0])
    fr = view.render_html([["le", "chat"]], np.ones((1, 2)), [1.0], lang="fr")
    assert 'lang="fr"' in fr


def test_save_html_writes_utf8(tmp_path):
    path = view.save_html(
        tmp_path / "zh.html", CHINESE, CHINESE_WORDS, CHINESE_SENTENCES
    )
    assert "我们今天去北京" in re.sub(r"<[^>]+>", "", path.read_bytes().decode())


@pytest.mark.parametrize(
    ("words", "sentences", "match"),
    [
        (np.ones((1, 3, 5)), np.ones(3), r"word_weights.shape=\(1, 3, 5\)"),
        (np.ones((3, 5)), np.ones((1, 3)), r"sentence_weights.shape=\(1, 3\)"),
        (np.ones((3, 5)), np.ones(4), r"shapes \(sentences, words\) and"),
        (np.ones((1, 5)), np.ones(1), r"2 sentences.*word_weights.shape=\(1, 5\)"),
        (np.ones((3, 3)), np.ones(3), r"longest of 4 tokens"),
        (np.full((3, 5), np.nan), np.ones(3), "`word_weights` must hold finite"),
        (np.ones((3, 5)), -np.ones(3), "`sentence_weights` must hold finite"),
    ],
)
def test_bad_shapes_and_values_are_clear_errors(words, sentences, match):
    with pytest.raises(ValueError, match=match):
        view.render_html(ENGLISH, words, sentences)
    with pytest.raises(ValueError, match=match):
        view.render_png("unused.png", ENGLISH, words, sentences)


def test_sentences_must_be_lists_of_strings():
    for bad in ("a text", [["a", 1]], ["ab"]):
        with pytest.raises(ValueError, match="list of token strings"):
            view.render_html(bad, np.ones((1, 2)), np.ones(1))


def _assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000


def test_png_is_written(tmp_path):
    path = view.render_png(
        tmp_path / "en.png",
        ENGLISH,
        ENGLISH_WORDS,
        ENGLISH_SENTENCES,
        caption="true $a$, predicted b",  # no mathtext: drawn as written
        vocabulary={"the"},
    )
    _assert_png(path)
    # A long document wraps its sentences.
    long = [[f"word{i}" for i in range(30)] for _ in range(3)]
    rng = np.random.default_rng(0)
    path = view.render_png(
        tmp_path / "long.png", long, rng.random((3, 30)), rng.random(3)
    )
    _assert_png(path)


def test_chinese_png_uses_a_cjk_font_or_warns_once(tmp_path, monkeypatch):
    monkeypatch.setattr(view, "_warned_no_cjk_font", False)
    args = (CHINESE, CHINESE_WORDS, CHINESE_SENTENCES)
    if view.cjk_font() is not None:  # drawn with it, silently
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _assert_png(view.render_png(tmp_path / "zh.png", *args))
    # Without a CJK font: drawn anyway (boxes), one warning, not two.
    monkeypatch.setattr(view, "cjk_font", lambda: None)
    with pytest.warns(UserWarning, match="no font with CJK glyphs") as caught:
        _assert_png(view.render_png(tmp_path / "zh1.png", *args))
    assert len(caught) == 1  # matplotlib's own missing-glyph warnings silenced
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_png(view.render_png(tmp_path / "zh2.png", *args))


# -- a real browser -----------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "headless_shell")


def _browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser installed (none of {', '.join(BROWSERS)})")


def _chromium(browser, tmp_path, *args):
    command = [
        browser,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode("utf-8")


def test_a_headless_browser_renders_the_page(tmp_path):
    browser = _browser()
    document = [*ENGLISH, *CHINESE]
    words = np.zeros((4, 8))
    words[:2, :5] = ENGLISH_WORDS[:2]
    words[2:] = CHINESE_WORDS[:2]
    path = view.save_html(
        tmp_path / "page.html",
        document,
        words,
        [0.4, 0.1, 0.3, 0.2],
        title="mixed 文档",
        joiner=" ",
    )
    dom = _chromium(browser, tmp_path, "--dump-dom", path.as_uri())
    # The browser parsed the escaped tokens as text: no script element.
    assert "<script" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    text = re.sub(r"<[^>]+>", "", dom)
    for word in ("the", "cat", "sat", "down", "我", "京", "天", "好", "文档"):
        assert word in text, word
    assert dom.count('class="word') == 17
    assert f"{ORANGE}1.000)" in dom and "border-left-color: rgba(31, 119, 180" in dom
    shot = tmp_path / "shot.png"
    _chromium(
        browser,
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=900,600",
        path.as_uri(),
    )
    _assert_png(shot)
