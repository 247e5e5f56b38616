"""The tutorial's TF1 text classifier, trained and saved by TF1 itself.

The tf1-migration recipe runs this file as a script in a child process:

    TF_USE_LEGACY_KERAS=1 python _tf1_classifier.py REQUEST.npz RESULT.npz

TF1's `tf.compat.v1.nn.rnn_cell` classes and `tf.compat.v1.layers` run only
with the legacy Keras 2 (`tf-keras`), selected by `TF_USE_LEGACY_KERAS=1`
before TensorFlow is imported, and in graph mode; the recipe's own process
uses Keras 3 (on any backend), so the two cannot share a process. This file
imports nothing but NumPy and TensorFlow (not keras_rnnkit).

The network is the tutorial's `TextRNN.rnn()` ("模型训练"), with
`tf.contrib.rnn` spelled `tf.compat.v1.nn.rnn_cell` and
`tf.contrib.layers.dropout` spelled `tf.nn.dropout`: an embedding, a
`MultiRNNCell` of `DropoutWrapper(GRUCell)`, `dynamic_rnn` with the titles'
lengths, the layers' final states concatenated, `dense` + dropout + ReLU,
`dense` to the logits; softmax cross-entropy and Adam.

REQUEST.npz holds the config (`seq_length`, `vocab_size`, `embedding_dim`,
`hidden_dim`, `num_layers`, `num_classes`, `keep_prob`, `learning_rate`,
`batch_size`, `steps`, `eval_every`, `seed`), the checkpoint prefix `path`
and the int32 token arrays `x_train`, `x_validation`, `x_test` (0 is
padding, at the end) with their labels `y_*`. RESULT.npz gets the saved
checkpoint path, the test probabilities and accuracy, and the training log.
"""

import sys
import time
import warnings

import numpy as np


def build(tf, config):
    """The tutorial's graph; returns its placeholders and tensors as a dict."""
    v1 = tf.compat.v1
    rnn_cell = v1.nn.rnn_cell
    input_x = v1.placeholder(tf.int32, [None, config["seq_length"]], name="input_x")
    input_y = v1.placeholder(tf.float32, [None, config["num_classes"]], name="input_y")
    keep_prob = v1.placeholder_with_default(1.0, shape=(), name="keep_prob")
    seq_length = v1.placeholder(tf.int32, [None], name="seq_length")

    def dropout():  # a dropout after every RNN cell
        cell = rnn_cell.GRUCell(config["hidden_dim"])
        return rnn_cell.DropoutWrapper(cell, output_keep_prob=keep_prob)

    embedding = v1.get_variable(
        "embedding", [config["vocab_size"], config["embedding_dim"]]
    )
    embedding_inputs = tf.nn.embedding_lookup(embedding, input_x)

    with tf.name_scope("rnn"):
        cells = [dropout() for _ in range(config["num_layers"])]
        cell = rnn_cell.MultiRNNCell(cells, state_is_tuple=True)
        _outputs, states = v1.nn.dynamic_rnn(
            cell, embedding_inputs, dtype=tf.float32, sequence_length=seq_length
        )
        last = tf.concat(states, -1)  # the final states, not the last output

    with tf.name_scope("score"):
        units = config["hidden_dim"] * config["num_layers"]
        fc = v1.layers.dense(last, units, name="fc1")
        fc = tf.nn.dropout(fc, rate=1.0 - keep_prob)
        fc = tf.nn.relu(fc)
        logits = v1.layers.dense(fc, config["num_classes"], name="fc2")
        probabilities = tf.nn.softmax(logits)

    with tf.name_scope("optimize"):
        loss = tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits(labels=input_y, logits=logits)
        )
        optimizer = v1.train.AdamOptimizer(learning_rate=config["learning_rate"])
        optim = optimizer.minimize(loss)

    with tf.name_scope("accuracy"):
        correct = tf.equal(tf.argmax(input_y, 1), tf.argmax(probabilities, 1))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    return {
        "input_x": input_x,
        "input_y": input_y,
        "keep_prob": keep_prob,
        "seq_length": seq_length,
        "probabilities": probabilities,
        "loss": loss,
        "accuracy": accuracy,
        "optim": optim,
    }


def train_and_save(tf, request):
    """Trains `steps` Adam steps on shuffled batches, saves the checkpoint
    with `Saver`, and returns the test probabilities and the log."""
    v1 = tf.compat.v1
    config = {k: request[k].item() for k in request if request[k].ndim == 0}
    n_classes = config["num_classes"]
    rng = np.random.default_rng(config["seed"])

    def feed(x, y=None, keep_prob=1.0):
        lengths = (x > 0).sum(axis=1).astype("int32")
        fed = {graph_ops["input_x"]: x, graph_ops["seq_length"]: lengths}
        fed[graph_ops["keep_prob"]] = keep_prob
        if y is not None:
            fed[graph_ops["input_y"]] = np.eye(n_classes, dtype="float32")[y]
        return fed

    graph = v1.Graph()
    log = []
    with graph.as_default():
        v1.set_random_seed(config["seed"])
        graph_ops = build(tf, config)
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            x_train, y_train = request["x_train"], request["y_train"]
            x_val, y_val = request["x_validation"], request["y_validation"]
            order, start = rng.permutation(len(x_train)), 0
            begin = time.perf_counter()
            for step in range(1, config["steps"] + 1):
                if start + config["batch_size"] > len(order):
                    order, start = rng.permutation(len(x_train)), 0
                batch = order[start : start + config["batch_size"]]
                start += config["batch_size"]
                loss, accuracy, _ = session.run(
                    (graph_ops["loss"], graph_ops["accuracy"], graph_ops["optim"]),
                    feed(x_train[batch], y_train[batch], config["keep_prob"]),
                )
                if step % config["eval_every"] == 0 or step == config["steps"]:
                    val_loss, val_accuracy = session.run(
                        (graph_ops["loss"], graph_ops["accuracy"]), feed(x_val, y_val)
                    )
                    log.append((step, loss, accuracy, val_loss, val_accuracy))
                    print(
                        f"TF1 step {step:4d}: batch loss {loss:.3f}, batch "
                        f"accuracy {accuracy:.3f}; validation loss {val_loss:.3f}, "
                        f"accuracy {val_accuracy:.3f} "
                        f"({time.perf_counter() - begin:.0f} s)",
                        flush=True,
                    )
            seconds = time.perf_counter() - begin
            path = saver.save(session, str(request["path"]))
            probabilities = session.run(
                graph_ops["probabilities"], feed(request["x_test"])
            )
    accuracy = float(np.mean(probabilities.argmax(-1) == request["y_test"]))
    return {
        "path": path,
        "probabilities": probabilities,
        "test_accuracy": accuracy,
        "log": np.array(log, "float64"),
        "seconds": seconds,
    }


def main(argv):
    request_path, result_path = argv
    import tensorflow as tf

    # TF1's own deprecation notices (the tutorial's API is the point here)
    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", r"`tf\.\S+` is deprecated", UserWarning)

    with np.load(request_path) as request:
        request = dict(request)
    np.savez(result_path, **train_and_save(tf, request))


if __name__ == "__main__":
    main(sys.argv[1:])
