"""Documents shaded by their attention weights: a standalone HTML page and a PNG.

A recipe helper, not library API. Given the tokens of one document (a list
of sentences, each a list of token strings, unpadded) and the weights that
`keras_rnnkit.HierarchicalEncoder(...)(x, return_weights=True)` returns for
it (`word_weights` of shape `(sentences, words)` and `sentence_weights` of
shape `(sentences,)`, padded as the model saw the document):

- `render_html` / `save_html`: one HTML page, UTF-8, inline CSS, no
  scripts and no external resources, so it opens in any browser, offline,
  whatever the script (Chinese included). Each sentence is a block whose
  left bar is shaded by the sentence's weight; each word a span whose
  background is shaded by the word's weight, scaled so that the strongest
  word of each sentence is fully shaded. Hovering a word or a sentence
  shows its exact weight.
- `render_png`: the same view drawn with matplotlib (one row, wrapped if
  long, per sentence; the sentence weight as a bar on the left). For
  Chinese, Japanese or Korean text it uses a font with CJK glyphs when
  matplotlib finds one (Noto Sans CJK, WenQuanYi, Droid Sans Fallback, ...),
  else it draws anyway (missing glyphs show as boxes) and warns once.

Words the model did not know (out of its vocabulary: `vocabulary=` given,
the word not in it) are shown in grey italics: the model saw them all as
the same OOV id.
"""

import html
import pathlib
import re
import warnings

import numpy as np

WORD_RGB = (255, 140, 0)  # orange
SENTENCE_RGB = (31, 119, 180)  # blue

# Han ideographs (with extension A and compatibility), kana, Hangul, CJK
# punctuation and full-width forms.
_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff00-\uffef]"
)
_KANA = re.compile("[\u3040-\u30ff]")
_HANGUL = re.compile("[\uac00-\ud7af]")
CJK_FONTS = (
    "Noto Sans CJK",
    "Noto Serif CJK",
    "Source Han Sans",
    "Source Han Serif",
    "WenQuanYi",
    "Droid Sans Fallback",
    "AR PL",
    "Microsoft YaHei",
    "SimHei",
    "PingFang",
    "Hiragino Sans",
    "Heiti",
    "Arial Unicode",
)
_warned_no_cjk_font = False

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans",
  "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif;
  max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222;
  line-height: 1.9; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
p.caption { color: #555; margin-top: 0; }
div.sentence { border-left: 0.6em solid; padding: 0.1em 0.6em;
  margin: 0.4em 0; }
span.sentence-weight { display: inline-block; min-width: 3.2em;
  font-size: 0.75em; color: #555; font-variant-numeric: tabular-nums; }
span.word { border-radius: 0.2em; padding: 0.05em 0.1em; }
span.oov { font-style: italic; color: #888; }
p.legend { color: #555; font-size: 0.85em; border-top: 1px solid #ddd;
  padding-top: 0.5em; }
"""


def _is_cjk(sentences):
    """Whether most tokens contain CJK characters."""
    tokens = [t for s in sentences for t in s]
    if not tokens:
        return False
    return sum(bool(_CJK.search(t)) for t in tokens) * 2 > len(tokens)


def _default_lang(sentences):
    text = "".join(t for s in sentences for t in s)
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    return "zh" if _is_cjk(sentences) else "en"


def _check(sentences, word_weights, sentence_weights):
    """The weights as float arrays, after checking them against `sentences`."""
    if not isinstance(sentences, list | tuple) or not all(
        isinstance(s, list | tuple) and all(isinstance(t, str) for t in s)
        for s in sentences
    ):
        raise ValueError(
            "Argument `sentences` must be a list of sentences, each a list of "
            f"token strings. Received: sentences={sentences!r:.200}"
        )
    words = np.asarray(word_weights, dtype="float64")
    sents = np.asarray(sentence_weights, dtype="float64")
    if words.ndim != 2 or sents.ndim != 1 or words.shape[0] != sents.shape[0]:
        raise ValueError(
            "Arguments `word_weights` and `sentence_weights` must have shapes "
            "(sentences, words) and (sentences,), the weights of one document. "
            f"Received: word_weights.shape={words.shape}, "
            f"sentence_weights.shape={sents.shape}"
        )
    longest = max((len(s) for s in sentences), default=0)
    if len(sentences) > sents.shape[0] or longest > words.shape[1]:
        raise ValueError(
            f"Argument `sentences` ({len(sentences)} sentences, the longest of "
            f"{longest} tokens) does not fit the weights' shape "
            f"word_weights.shape={words.shape}: cut the document as the model "
            "saw it."
        )
    for name, value in (("word_weights", words), ("sentence_weights", sents)):
        finite = np.isfinite(value)
        if not np.all(finite) or np.any(value[finite] < 0):
            raise ValueError(
                f"Argument `{name}` must hold finite weights >= 0. Received: "
                f"{name} with {int(np.sum(~finite))} non-finite values and "
                f"{int(np.sum(value[finite] < 0))} negative ones"
            )
    return words, sents


def _scaled(values):
    """`values` divided by their maximum (all 0 when it is 0)."""
    values = np.asarray(values, dtype="float64")
    top = values.max() if values.size else 0.0
    return values / top if top > 0 else np.zeros_like(values)


def _oov_test(vocabulary):
    if vocabulary is None:
        return lambda token: False
    return lambda token: token not in vocabulary


def render_html(
    sentences,
    word_weights,
    sentence_weights,
    title="Attention weights",
    caption=None,
    lang=None,
    joiner=None,
    vocabulary=None,
):
    """A standalone HTML page of one document shaded by its attention weights.

    Args:
        sentences: The document's tokens: a list of sentences, each a list
            of strings, unpadded (as the model saw them, cut to its shape).
        word_weights: Array `(sentences, words)`, the word attention weights
            of this document (padded slots are ignored).
        sentence_weights: Array `(sentences,)`, its sentence weights.
        title: The page's title (also its heading).
        caption: Optional line under the heading (true and predicted class,
            say).
        lang: The document's `lang` attribute (the page around it is in
            English); by default "zh", "ja" or "ko" for CJK text, else "en".
        joiner: The text between two tokens; by default "" for CJK tokens
            (characters, written without spaces), else " ".
        vocabulary: Optional container of the words the model knows; the
            others are shown in grey italics (the model saw them as OOV).

    Returns:
        The page, as a string (write it with `encoding="utf-8"`).
    """
    words, sents = _check(sentences, word_weights, sentence_weights)
    if joiner is None:
        joiner = "" if _is_cjk(sentences) else " "
    lang = lang or _default_lang(sentences)
    oov = _oov_test(vocabulary)
    esc = html.escape
    sentence_alpha = _scaled(sents[: len(sentences)])
    body = []
    for s, tokens in enumerate(sentences):
        alphas = _scaled(words[s, : len(tokens)])
        spans = []
        for w, token in enumerate(tokens):
            weight = words[s, w]
            classes = "word oov" if oov(token) else "word"
            note = " (out of vocabulary)" if oov(token) else ""
            spans.append(
                f'<span class="{classes}" data-weight="{weight:.6g}" '
                f'title="word weight {weight:.6f}{note}" '
                f'style="background-color: rgba({WORD_RGB[0]}, {WORD_RGB[1]}, '
                f'{WORD_RGB[2]}, {alphas[w]:.3f})">{esc(token)}</span>'
            )
        r, g, b = SENTENCE_RGB
        body.append(
            f'<div class="sentence" data-weight="{sents[s]:.6g}" '
            f'title="sentence {s + 1}, weight {sents[s]:.6f}" '
            f'style="border-left-color: rgba({r}, {g}, {b}, '
            f'{sentence_alpha[s]:.3f})">'
            f'<span class="sentence-weight">{sents[s]:.3f}</span>'
            + esc(joiner).join(spans)
            + "</div>"
        )
    caption_html = f'<p class="caption">{esc(caption)}</p>\n' if caption else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{caption_html}"
        f'<div class="document" lang="{esc(lang)}">\n' + "\n".join(body) + "\n</div>\n"
        '<p class="legend">Left bar: the sentence\'s attention weight (the '
        "number; the darkest bar is the document's strongest sentence). "
        "Background: the word's weight within its sentence (the strongest "
        "word of each sentence fully shaded). Hover for exact weights. "
        '<span class="oov">Grey italics</span>: out of the model\'s '
        "vocabulary.</p>\n</body>\n</html>\n"
    )


def save_html(path, sentences, word_weights, sentence_weights, **kwargs):
    """Writes `render_html(...)` to `path` (UTF-8); returns the Path."""
    path = pathlib.Path(path)
    page = render_html(sentences, word_weights, sentence_weights, **kwargs)
    path.write_text(page, encoding="utf-8")
    return path


_CJK_FILES = re.compile(r"cjk|wqy|wenquanyi|droidsansfallback|sourcehan|uming|ukai")


def _known_cjk_font():
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for wanted in CJK_FONTS:
        found = [n for n in names if n.lower().startswith(wanted.lower())]
        if found:  # Noto Sans CJK SC (simplified Chinese) before HK, JP, ...
            return min(found, key=lambda n: (not n.endswith(" SC"), n))
    return None


def cjk_font():
    """The name of an installed font with CJK glyphs matplotlib knows, or None.

    Looks in matplotlib's font list, then (its font cache may predate the
    font's installation) among the system's font files, adding the first
    CJK ones it finds to matplotlib's list."""
    from matplotlib import font_manager

    name = _known_cjk_font()
    if name is not None:
        return name
    for path in sorted(font_manager.findSystemFonts()):
        if _CJK_FILES.search(pathlib.Path(path).name.lower()):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return _known_cjk_font()


def _font_family(sentences):
    """A font family list for the text; warns once if CJK text finds no font."""
    global _warned_no_cjk_font
    text = "".join(t for s in sentences for t in s)
    if not _CJK.search(text):
        return ["DejaVu Sans"]
    name = cjk_font()
    if name is not None:
        return [name, "DejaVu Sans"]
    if not _warned_no_cjk_font:
        _warned_no_cjk_font = True
        warnings.warn(
            "render_png: the document has CJK characters but matplotlib finds "
            "no font with CJK glyphs (such as Noto Sans CJK or WenQuanYi; on "
            "Debian/Ubuntu: apt-get install fonts-noto-cjk), so they are drawn "
            "as boxes. The HTML page shows them with the browser's fonts.",
            UserWarning,
            stacklevel=3,
        )
    return ["DejaVu Sans"]


def render_png(
    path,
    sentences,
    word_weights,
    sentence_weights,
    title="Attention weights",
    caption=None,
    vocabulary=None,
    width=9.0,
    fontsize=10,
    dpi=130,
):
    """Draws the document shaded by its weights with matplotlib; saves a PNG.

    One row per sentence (wrapped when longer than the figure), each word a
    text box whose face is shaded by its weight within the sentence (the
    strongest word fully shaded), the sentence's weight as a bar on the
    left, shaded by its weight within the document, with its value. The
    arguments are those of `render_html`, plus the figure's `width` in
    inches, the `fontsize` and the `dpi`. Returns the Path.
    """
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Rectangle

    from keras_rnnkit.recipes import _common

    words, sents = _check(sentences, word_weights, sentence_weights)
    plt = _common.pyplot()
    family = _font_family(sentences)
    cjk = _is_cjk(sentences)
    oov = _oov_test(vocabulary)
    prop = FontProperties(family=family, size=fontsize)
    italic = FontProperties(family=family, size=fontsize, style="italic")
    measure = RendererAgg(1, 1, 72)  # at 72 dpi, pixels are points

    # Lay out in points: x to the right, y downwards from the top.
    total_w = width * 72
    pad, gap = 2.0, 3.0 if not cjk else 1.0
    line_h, bar_w, left = fontsize * 1.9, 6.0, 46.0
    with warnings.catch_warnings():
        # Glyphs missing from the font (warned about once, above).
        warnings.filterwarnings("ignore", "Glyph .* missing from", UserWarning)
        placed, rows, y = [], [], 0.0
        for s, tokens in enumerate(sentences):
            x, top = left, y
            for w, token in enumerate(tokens):
                font = italic if oov(token) else prop
                tw = measure.get_text_width_height_descent(token, font, False)[0]
                if x > left and x + tw + 2 * pad > total_w:
                    x, y = left, y + line_h  # wrap
                placed.append((x + pad, y, token, font, s, w))
                x += tw + 2 * pad + gap
            y += line_h
            rows.append((top, y))
            y += fontsize * 0.5  # between sentences
        head = fontsize * (2.4 if caption else 1.6) + 4
        height = max(y, line_h) + head + 4

        fig = plt.figure(figsize=(width, height / 72))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, total_w)
        ax.set_ylim(height, 0)
        ax.axis("off")
        bold = FontProperties(family=family, size=fontsize * 1.2, weight="bold")
        ax.text(4, 4, title, va="top", fontproperties=bold, parse_math=False)
        if caption:
            ax.text(
                4,
                4 + fontsize * 1.5,
                caption,
                va="top",
                color="#555",
                fontproperties=prop,
                parse_math=False,
            )
        sentence_alpha = _scaled(sents[: len(sentences)])
        for s, (top, bottom) in enumerate(rows):
            rgba = (*(c / 255 for c in SENTENCE_RGB), sentence_alpha[s])
            ax.add_patch(
                Rectangle(
                    (4, head + top + 1),
                    bar_w,
                    bottom - top - 2,
                    facecolor=rgba,
                    edgecolor="#ccc",  # visible when the weight is near 0
                    linewidth=0.5,
                )
            )
            ax.text(
                4 + bar_w + 3,
                head + top + line_h / 2,
                f"{sents[s]:.3f}",
                va="center",
                fontsize=fontsize * 0.75,
                color="#555",
            )
        alphas = [_scaled(words[s, : len(t)]) for s, t in enumerate(sentences)]
        for x, top, token, font, s, w in placed:
            face = (*(c / 255 for c in WORD_RGB), alphas[s][w])
            ax.text(
                x,
                head + top + line_h / 2,
                token,
                va="center",
                ha="left",
                fontproperties=font,
                color="#888" if oov(token) else "#222",
                parse_math=False,
                bbox=dict(facecolor=face, edgecolor="none", pad=pad * 0.8),
            )
        path = pathlib.Path(path)
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return path
