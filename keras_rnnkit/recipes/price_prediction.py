"""Next-value prediction with OutputProjectionWrapper: S&P 500 and sunspots.

The tutorial's stock-price recipe: a `SimpleRNNCell(100, activation="relu")`
wrapped in `keras_rnnkit.OutputProjectionWrapper(cell, 1)` runs over windows
of 20 values (`keras_rnnkit.DynamicRNN`, `return_sequences=True`) and is
trained, sequence to sequence, to output at every step the next value (the
targets are the inputs shifted one step to the left), with the mean squared
error over the 20 outputs. A test prediction is the last output of the
window of the 20 values before the day (year) to predict.

Two real series, each split chronologically (train, validation for early
stopping, test last) and normalised with statistics of the training part
only:

- yearly sunspot numbers 1700-2008 (`load_sunspots`), a series with an
  11-year cycle the network can learn: it must beat, clearly, the
  persistence baseline (predict the previous value); an AR(10) model fitted
  by least squares is the classical reference;
- the S&P 500 index 1999-2018 (`load_sp500`). Prices are close to a random
  walk, so the honest report is the test RMSE next to persistence. The
  network reads and predicts daily log returns (normalised), not price
  levels: the test years' levels lie above anything seen in training, where
  a network fed levels can only extrapolate badly. A predicted return `r`
  gives the price `previous price * exp(r)`; RMSEs are in index points.
"""

import numpy as np

from keras_rnnkit.recipes import _common

STEPS = 20  # window length, as in the tutorial
UNITS = 100


def windows(series, first_target, last_target, steps=STEPS):
    """Input and target windows (shifted by one) of `series`, for every target
    index in ``[max(first_target, steps), last_target)``, as the last step of
    its window: inputs ``series[t-steps:t]``, targets ``series[t-steps+1:t+1]``.
    """
    ends = np.arange(max(first_target, steps), last_target)
    offsets = np.arange(-steps, 0)
    inputs = series[ends[:, None] + offsets]
    targets = series[ends[:, None] + offsets + 1]
    return (
        inputs[..., None].astype("float32"),
        targets[..., None].astype("float32"),
    )


def build_model():
    import keras

    import keras_rnnkit

    # tf.contrib.rnn.OutputProjectionWrapper(BasicRNNCell(100, relu), 1)
    cell = keras_rnnkit.OutputProjectionWrapper(
        keras.layers.SimpleRNNCell(UNITS, activation="relu"), output_size=1
    )
    model = keras.Sequential(
        [
            keras.Input((None, 1), name="values"),
            # tf.nn.dynamic_rnn(cell, X): every step's (projected) output
            keras_rnnkit.DynamicRNN(cell, return_sequences=True, name="rnn"),
        ],
        name="next_value",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def rmse(prediction, truth):
    return float(np.sqrt(np.mean((np.asarray(prediction) - truth) ** 2)))


def print_rows(*rows):
    for label, value in rows:
        print(f"  {label:31s}{value:8.2f}")


def ar_forecast(series, order, fit_end, first, last):
    """One-step forecasts for indices ``[first, last)`` of an AR(`order`)
    model with intercept fitted by least squares on ``series[:fit_end]``."""
    offsets = np.arange(-order, 0)
    fit = np.arange(order, fit_end)
    design = np.c_[series[fit[:, None] + offsets], np.ones(len(fit))]
    coef = np.linalg.lstsq(design, series[fit], rcond=None)[0]
    wanted = np.arange(first, last)
    return np.c_[series[wanted[:, None] + offsets], np.ones(len(wanted))] @ coef


def fit(model, train, validation, epochs, patience, quick):
    history = model.fit(
        *train,
        validation_data=validation,
        epochs=epochs,
        batch_size=32,
        shuffle=True,
        verbose=_common.fit_verbosity(quick),
        callbacks=[_common.early_stopping(patience=patience)],
    )
    return history


def sunspots(out, quick, epochs):
    from keras_rnnkit.recipes.datasets import load_sunspots

    _common.header("Sunspots, yearly 1700-2008")
    years, values = load_sunspots()
    n = len(values)
    test_start = n - round(0.2 * n)  # the last 62 years
    val_start = test_start - round(0.1 * n)  # the 31 years before
    mean, std = values[:val_start].mean(), values[:val_start].std()
    z = (values - mean) / std
    train = windows(z, 0, val_start)
    validation = windows(z, val_start, test_start)
    test_inputs, _ = windows(z, test_start, n)
    print(
        f"train {years[0]}-{years[val_start - 1]} ({len(train[0])} windows), "
        f"validation {years[val_start]}-{years[test_start - 1]}, "
        f"test {years[test_start]}-{years[-1]} ({n - test_start} years); "
        f"windows of {STEPS} years"
    )
    model = build_model()
    with _common.Timer() as timer:
        history = fit(
            model, train, validation, epochs or (2 if quick else 300), 30, quick
        )
    truth = values[test_start:]
    prediction = model.predict(test_inputs, verbose=0)[:, -1, 0] * std + mean
    persistence = values[test_start - 1 : n - 1]
    ar10 = ar_forecast(values, 10, test_start, test_start, n)
    figures = {
        "sunspots_rmse": rmse(prediction, truth),
        "sunspots_persistence_rmse": rmse(persistence, truth),
        "sunspots_ar10_rmse": rmse(ar10, truth),
        "sunspots_epochs": len(history.history["loss"]),
        "sunspots_fit_seconds": timer.seconds,
    }
    print(f"\nTest RMSE, {years[test_start]}-{years[-1]} (sunspot number):")
    print_rows(
        ("RNN + OutputProjectionWrapper", figures["sunspots_rmse"]),
        ("persistence (previous year)", figures["sunspots_persistence_rmse"]),
        ("AR(10), least squares", figures["sunspots_ar10_rmse"]),
    )
    print(
        f"  ({figures['sunspots_epochs']} epochs, best weights restored, "
        f"{timer.seconds:.1f} s)"
    )

    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    shown = years >= years[test_start] - 60
    ax.plot(years[shown], values[shown], color="black", lw=1.2, label="observed")
    test_years = years[test_start:]
    ax.plot(test_years, prediction, marker=".", label="RNN (one year ahead)")
    ax.plot(test_years, ar10, ls="--", label="AR(10)")
    ax.axvline(years[test_start] - 0.5, color="grey", lw=0.8)
    ax.set_xlabel("year")
    ax.set_ylabel("sunspot number")
    ax.set_title(
        f"Sunspots, test years: RNN RMSE {figures['sunspots_rmse']:.1f}, "
        f"persistence {figures['sunspots_persistence_rmse']:.1f}, "
        f"AR(10) {figures['sunspots_ar10_rmse']:.1f}"
    )
    ax.legend(loc="upper left")
    path = out / "sunspots_test.png"
    _common.save_figure(fig, path)
    return figures, path


def sp500(out, quick, epochs):
    from keras_rnnkit.recipes.datasets import load_sp500

    _common.header(
        "S&P 500, the last 1,000 days (quick run)"
        if quick
        else "S&P 500, daily 1999-2018"
    )
    dates, close = load_sp500()
    if quick:
        dates, close = dates[-1000:], close[-1000:]
    returns = np.diff(np.log(close))  # returns[i]: from close[i] to close[i+1]
    n = len(returns)
    val_start, test_start = int(0.70 * n), int(0.85 * n)
    mean, std = returns[:val_start].mean(), returns[:val_start].std()
    z = (returns - mean) / std
    train = windows(z, 0, val_start)
    validation = windows(z, val_start, test_start)
    test_inputs, _ = windows(z, test_start, n)
    print(
        f"train {dates[0]} to {dates[val_start]} ({len(train[0])} windows), "
        f"validation to {dates[test_start]}, test {dates[test_start + 1]} to "
        f"{dates[-1]} ({n - test_start} days); windows of {STEPS} daily "
        "log returns"
    )
    model = build_model()
    with _common.Timer() as timer:
        history = fit(
            model, train, validation, epochs or (1 if quick else 30), 5, quick
        )
    predicted_returns = model.predict(test_inputs, verbose=0)[:, -1, 0] * std + mean
    previous = close[test_start:n]  # the close before each test day
    truth = close[test_start + 1 :]
    prediction = previous * np.exp(predicted_returns)
    up = np.sign(predicted_returns) == np.sign(returns[test_start:])
    figures = {
        "sp500_rmse": rmse(prediction, truth),
        "sp500_persistence_rmse": rmse(previous, truth),
        "sp500_direction_accuracy": float(np.mean(up)),
        "sp500_epochs": len(history.history["loss"]),
        "sp500_fit_seconds": timer.seconds,
    }
    ratio = figures["sp500_rmse"] / figures["sp500_persistence_rmse"]
    print(f"\nTest RMSE, {dates[test_start + 1]} to {dates[-1]} (index points):")
    print_rows(
        ("RNN + OutputProjectionWrapper", figures["sp500_rmse"]),
        ("persistence (previous close)", figures["sp500_persistence_rmse"]),
    )
    print(
        f"  ratio RNN / persistence {ratio:.3f}; the sign of the daily move is "
        f"right on {figures['sp500_direction_accuracy']:.1%} of the test days"
    )
    print(
        "  Prices are close to a random walk: no model of past prices alone is "
        "expected to beat persistence by a useful margin."
    )
    print(
        f"  ({figures['sp500_epochs']} epochs, best weights restored, "
        f"{timer.seconds:.1f} s)"
    )

    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    test_dates = dates[test_start + 1 :]
    for ax, last in zip(axes, (len(truth), 60), strict=True):
        ax.plot(test_dates[-last:], truth[-last:], color="black", lw=1, label="close")
        ax.plot(
            test_dates[-last:], prediction[-last:], lw=1, label="RNN (one day ahead)"
        )
        if last == 60:
            ax.plot(
                test_dates[-last:],
                previous[-last:],
                lw=1,
                ls="--",
                label="persistence",
            )
        ax.set_ylabel("index points")
        ax.tick_params(axis="x", labelrotation=30)
        ax.legend(loc="upper left")
    axes[0].set_title(
        f"S&P 500 test span: RMSE RNN {figures['sp500_rmse']:.1f}, "
        f"persistence {figures['sp500_persistence_rmse']:.1f}"
    )
    axes[1].set_title("last 60 test days")
    path = out / "sp500_test.png"
    _common.save_figure(fig, path)
    return figures, path


def run(quick=False, out="runs/price-prediction", epochs=None, seed=0):
    """Trains on sunspots and on the S&P 500; returns the test figures."""
    out = _common.setup(out, seed)
    with _common.Timer() as total:
        sun, sun_plot = sunspots(out, quick, epochs)
        stock, stock_plot = sp500(out, quick, epochs)
    _common.header("Summary")
    print(
        f"sunspots: RNN {sun['sunspots_rmse']:.2f} vs persistence "
        f"{sun['sunspots_persistence_rmse']:.2f} and AR(10) "
        f"{sun['sunspots_ar10_rmse']:.2f}"
    )
    print(
        f"S&P 500:  RNN {stock['sp500_rmse']:.2f} vs persistence "
        f"{stock['sp500_persistence_rmse']:.2f} index points"
    )
    print(f"plots: {sun_plot}, {stock_plot}; {total.seconds:.1f} s in all")
    return {
        **sun,
        **stock,
        "plots": [str(sun_plot), str(stock_plot)],
        "seconds": total.seconds,
    }
