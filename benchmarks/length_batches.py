"""Time per training epoch: global padding against `LengthBatches`.

The variable-length recipe's model (`DynamicRNN(PeepholeLSTMCell(128))`
with `sequence_length`, JapaneseVowels: 270 training utterances of 7 to 29
frames) trained once on arrays padded to the longest utterance of the data
set (29 frames) and once on `keras_rnnkit.LengthBatches` (batches of similar
length, each padded to its longest rounded up to `--multiple` frames). Same
batch size, same model; after a warm-up epoch each (tracing, compiling), the
two alternate for `--repeats` epochs and the medians are printed with their
ratio. Only the ratio means much: shared machines drift between runs.

    python benchmarks/length_batches.py                  # current KERAS_BACKEND
    KERAS_BACKEND=jax python benchmarks/length_batches.py --repeats 5

Needs the recipes' data (`keras_rnnkit.recipes.datasets.load_japanese_vowels`).
"""

import argparse
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs each")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--multiple", type=int, default=4, help="pad_to_multiple_of")
    args = parser.parse_args()

    import keras
    import numpy as np

    import keras_rnnkit
    from keras_rnnkit.recipes import variable_length
    from keras_rnnkit.recipes.datasets import load_japanese_vowels

    sequences, labels = load_japanese_vowels("train")
    frames = np.concatenate(sequences)
    mean, std = frames.mean(0), frames.std(0)
    lengths = np.array([len(s) for s in sequences], "int32")
    padded, _ = variable_length.pad(sequences, lengths.max(), mean, std)

    batches = keras_rnnkit.LengthBatches(
        {"frames": [((s - mean) / std).astype("float32") for s in sequences],
         "lengths": lengths},
        labels,
        batch_size=args.batch_size,
        pad_to_multiple_of=args.multiple,
        shuffle=True,
        seed=0,
    )  # fmt: skip
    widths = [batches[i][0]["frames"].shape[1] for i in range(len(batches))]
    runs = {
        f"global padding ({lengths.max()} frames)": lambda model: model.fit(
            {"frames": padded, "lengths": lengths},
            labels,
            batch_size=args.batch_size,
            shuffle=True,
            epochs=1,
            verbose=0,
        ),
        f"LengthBatches (mean width {np.mean(widths):.1f})": lambda model: model.fit(
            batches, epochs=1, verbose=0
        ),
    }
    models = {}
    for name, fit in runs.items():
        keras.utils.set_random_seed(0)
        models[name] = variable_length.build_model(seed=0)
        fit(models[name])  # warm-up: tracing and compiling
    seconds = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fit in runs.items():
            start = time.perf_counter()
            fit(models[name])
            seconds[name].append(time.perf_counter() - start)

    print(
        f"backend {keras.backend.backend()}, {len(labels)} utterances of "
        f"{lengths.min()}-{lengths.max()} frames (mean {lengths.mean():.1f}), "
        f"batch {args.batch_size}, {args.repeats} epochs each, "
        f"{batches.distinct_shapes} distinct batch shapes"
    )
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    for name, median in medians.items():
        print(f"  {name:40s} {median:7.3f} s per epoch (median)")
    padded_time, batched_time = medians.values()
    print(f"  speed-up: {padded_time / batched_time:.2f}x")


if __name__ == "__main__":
    main()
