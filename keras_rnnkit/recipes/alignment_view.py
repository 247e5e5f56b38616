"""Attention alignments of an encoder-decoder drawn as grids: a PNG and an HTML page.

A recipe helper, not library API. For each example, a grid whose columns
are the input symbols (letters), whose rows are the output symbols
(phonemes, then the end symbol), and whose cells are shaded by the weight
the decoder gave each input symbol while it wrote each output symbol (the
`(steps, memory_steps)` alignments `keras_rnnkit.attention_weights` returns
for a `WithMemory` decoder). Each row sums to 1 over the real input
symbols; padding is cut off.

- `render_html`: one HTML page, UTF-8, inline CSS, no scripts and no
  external resources; hovering a cell shows its exact weight.
- `render_png`: the same grids side by side, drawn with matplotlib.
"""

import html
import pathlib

import numpy as np

RGB = (31, 119, 180)  # blue
END = "</s>"


def _grids(inputs, outputs, weights):
    """Per example: (input symbols, output symbols + END, weights cut to
    them)."""
    if not len(inputs) == len(outputs) == len(weights):
        raise ValueError(
            "alignment_view: give one input, one output and one weight grid per "
            f"example. Received {len(inputs)}, {len(outputs)} and {len(weights)}."
        )
    grids = []
    for source, target, grid in zip(inputs, outputs, weights, strict=True):
        source, target = list(source), [*target, END]
        grid = np.asarray(grid, "float64")
        if grid.ndim != 2 or grid.shape[0] < len(target) or grid.shape[1] < len(source):
            raise ValueError(
                f"alignment_view: the weights of {''.join(map(str, source))!r} "
                f"must be at least ({len(target)}, {len(source)}) (output symbols "
                f"and end, input symbols). Received shape {grid.shape}."
            )
        grids.append((source, target, grid[: len(target), : len(source)]))
    return grids


def render_html(inputs, outputs, weights, title="Attention alignments"):
    """The page, as a string (see the module docstring)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse;margin:0 2em 2em 0;display:inline-table}"
        "td,th{width:2.2em;height:1.6em;text-align:center;font-size:0.85em}"
        "th{font-weight:normal;color:#333}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Rows: what the decoder wrote; columns: the letters it read; a "
        "cell's shade is the attention weight (hover for the value).</p>",
    ]
    r, g, b = RGB
    for source, target, grid in _grids(inputs, outputs, weights):
        parts.append(f"<table><caption>{html.escape(''.join(source))}</caption>")
        header = "".join(f"<th>{html.escape(str(x))}</th>" for x in source)
        parts.append(f"<tr><th></th>{header}</tr>")
        for symbol, row in zip(target, grid, strict=True):
            cells = "".join(
                f'<td title="{w:.3f}" style="background:rgba({r},{g},{b},{w:.3f})">'
                "</td>"
                for w in row
            )
            parts.append(f"<tr><th>{html.escape(str(symbol))}</th>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_png(path, inputs, outputs, weights, title="Attention alignments"):
    """Draws the grids side by side into `path` (PNG); returns the path."""
    from keras_rnnkit.recipes import _common

    grids = _grids(inputs, outputs, weights)
    plt = _common.pyplot()
    widths = [max(len(source), 3) for source, _, _ in grids]
    fig, axes = plt.subplots(
        1,
        len(grids),
        figsize=(max(4, 0.45 * sum(widths) + 1.2 * len(grids)), 4.5),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for ax, (source, target, grid) in zip(axes[0], grids, strict=True):
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(source)), source)
        ax.set_yticks(range(len(target)), target, fontsize=8)
        ax.set_title("".join(source), fontsize=10)
        ax.tick_params(length=0)
    fig.suptitle(title)
    _common.save_figure(fig, path)
    return pathlib.Path(path)


def save(stem, inputs, outputs, weights, title="Attention alignments"):
    """Writes `stem`.png and `stem`.html; returns both paths."""
    stem = pathlib.Path(stem)
    page = stem.with_suffix(".html")
    page.write_text(render_html(inputs, outputs, weights, title), encoding="utf-8")
    return [render_png(stem.with_suffix(".png"), inputs, outputs, weights, title), page]
