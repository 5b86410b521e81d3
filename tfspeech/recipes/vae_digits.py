"""Recipe for the ``vae-digits`` preset: a VAE on scikit-learn's 8x8 digits, and its score-function twin.

    python -m tfspeech.recipes.vae_digits              # train both, save zoo/vae-digits
    python -m tfspeech.recipes.vae_digits --evaluate   # re-measure the saved preset (figures, gradient variance)

Data: the split of ``flow-digits`` (:func:`tfspeech.recipes.flow_digits.splits`: 1,294
training, 144 validation images that pick the epoch, and ``gmm-digits``' 359 held-out images).
Images are pixel levels ``v ∈ {0..16}`` given as ``v / 16``; no dequantization is needed,
the likelihood is over the 17 levels.

Units: ``-ELBO(x)`` and ``-IWAE_k(x)`` are upper bounds (the second in expectation) on
``-log P(v)``, the negative log-probability of the image's pixel levels, in nats per image.
Per dimension in bits, ``-ELBO / (64 ln 2)``: the quantity whose upper bound ``flow-digits``
reports through the dequantization bound, so the two figures compare directly.

The score-function twin has the preset's architecture, initial weights, data order, draws
per image and number of epochs; only the encoder's gradient estimator differs (a
leave-one-out baseline as control variate). The gradient variance of the estimators is
measured at the preset's trained weights on a fixed held-out batch.

``--strategy`` distributes both fits (``tfspeech.recipes.strategy``); the chief alone measures
and saves the preset.
"""

import argparse
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tqdm.auto import tqdm

from tfspeech.recipes.strategy import add_strategy_option, is_chief, make_strategy

PRESET_NAME = "vae-digits"
LEVELS = 17  # pixel values 0..16
PIXELS = 64
IMAGE_SHAPE = (8, 8, 1)
MODEL_CONFIG = dict(image_shape=IMAGE_SHAPE, num_levels=LEVELS, latent_size=16, hidden_units=(256,), num_samples=4)
TRAINING_SEED = 0
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MAX_EPOCHS = 300
PATIENCE = 20  # epochs without a better validation ELBO before stopping (the best weights are kept)
EVALUATION_SEED = 1000
ELBO_SAMPLES = 100  # draws of z per image for the reported ELBO (its expectation, nearly exact)
IWAE_SAMPLES = 1000  # k of the importance-weighted bound
IMAGES_PER_PASS = 128  # bounds memory in evaluation
VARIANCE_BATCH = 64  # held-out images in the batch whose gradient variance is measured
VARIANCE_REPEATS = 200  # seeds per estimator
# (name, estimator, control variate) of the gradient-variance table; the first is the reference.
ESTIMATOR_VARIANTS = (
    ("reparameterization", "reparameterization", "baseline"),
    ("score function, leave-one-out baseline", "score_function", "baseline"),
    ("score function, no control variate", "score_function", "none"),
)
ZOO = Path(__file__).resolve().parents[2] / "zoo"
SAMPLES_FIGURE = "samples.png"
TRAIN_COMMAND = "python -m tfspeech.recipes.vae_digits"
EVALUATE_COMMAND = "python -m tfspeech.recipes.vae_digits --evaluate"


def splits():
    """``(train, validation, test, fingerprint)``: pixel values (float64, ``[N, 64]``, 0..16)."""
    from tfspeech.recipes.flow_digits import splits as flow_splits

    return flow_splits()


def images(pixels):
    """Pixel values ``[N, 64]`` (0..16) as the model's images ``v / 16``, float32 ``[N, 8, 8, 1]``."""
    return (np.asarray(pixels) / (LEVELS - 1)).astype(np.float32).reshape(-1, *IMAGE_SHAPE)


def bits_per_dim(log_probability):
    """Bits per pixel from a lower bound on ``log P(v)`` (nats per image), averaged over images."""
    return float(-np.mean(log_probability) / (PIXELS * np.log(2)))


def figures(model, pixels) -> dict:
    """ELBO, KL term and IWAE bound of ``pixels`` (seeded): nats per image and bits/dim."""
    x = images(pixels)
    elbo = held_out_elbo(model, pixels)
    iwae = _in_passes(lambda part: model.importance_weighted_bound(part, IWAE_SAMPLES, seed=EVALUATION_SEED), x)
    kl = _in_passes(lambda part: tfp.distributions.kl_divergence(model.posterior(part), model.prior()), x)
    return {
        "elbo_nats": float(np.mean(elbo)),
        "elbo_bits_per_dim": bits_per_dim(elbo),
        "iwae_nats": float(np.mean(iwae)),
        "iwae_bits_per_dim": bits_per_dim(iwae),
        "kl_nats": float(np.mean(kl)),
    }


def held_out_elbo(model, pixels):
    """``[N]`` ELBO (nats per image) of ``pixels``, averaged over ``ELBO_SAMPLES`` seeded draws."""
    return _in_passes(lambda part: model.elbo(part, num_samples=ELBO_SAMPLES, seed=EVALUATION_SEED), images(pixels))


def _in_passes(function, x):
    return np.concatenate([function(x[i : i + IMAGES_PER_PASS]).numpy() for i in range(0, len(x), IMAGES_PER_PASS)])


def gradient_variance(model, pixels) -> list[dict]:
    """Per :data:`ESTIMATOR_VARIANTS`, at ``model``'s weights, on the first ``VARIANCE_BATCH`` of ``pixels``:
    the total variance (sum over weight entries) of the batch's mean-ELBO gradient over
    ``VARIANCE_REPEATS`` seeds, for the encoder's and the decoder's weights, and, against the
    reparameterization gradient, the share of encoder entries whose means differ by more than
    3 standard errors (about 0.003 for an unbiased estimator)."""
    x = images(pixels[:VARIANCE_BATCH])
    rows, reference = [], None
    for stream, (name, estimator, control_variate) in enumerate(ESTIMATOR_VARIANTS):
        twin = model.with_estimator(estimator, control_variate)
        encoder_weights = {id(w) for layer in [*twin.encoder_layers, twin.encoder_output] for w in layer.weights}
        encoder = np.array([id(w) in encoder_weights for w in twin.trainable_weights])
        gradient = tf.function(lambda seed, twin=twin: twin.elbo_gradient(x, seed=seed))
        gradients = [  # seeds [i, stream]: the estimators' draws are independent of each other
            np.concatenate([g.numpy().ravel() for g in gradient(tf.constant([seed, stream]))])
            for seed in tqdm(range(VARIANCE_REPEATS), desc=f"gradient variance: {name}", leave=False)
        ]
        gradients = np.stack(gradients)
        sizes = [int(np.prod(w.shape)) for w in twin.trainable_weights]
        in_encoder = np.repeat(encoder, sizes)
        mean, variance = gradients.mean(0), gradients.var(0, ddof=1)
        row = {
            "estimator": name,
            "encoder_variance": float(variance[in_encoder].sum()),
            "decoder_variance": float(variance[~in_encoder].sum()),
        }
        if reference is None:
            reference = (mean, variance)
        else:
            standard_error = np.sqrt((variance + reference[1]) / VARIANCE_REPEATS)
            varying = in_encoder & (standard_error > 0)
            z = np.abs(mean - reference[0])[varying] / standard_error[varying]
            row["encoder_entries_beyond_3_standard_errors"] = float(np.mean(z > 3))
        rows.append(row)
    return rows


def train(zoo=ZOO, overwrite=False, strategy="default"):
    """Fits the VAE and its score-function twin, measures both, saves the preset; returns
    ``(folder, metrics, score_function_metrics, variance_rows)``, or None on a worker that is
    not the chief."""
    from tfspeech import zoo as registry

    started = time.perf_counter()
    train_pixels, validation_pixels, test_pixels, fingerprint = splits()
    distribution = make_strategy(strategy)
    model, history = fit(train_pixels, validation_pixels, "reparameterization", MAX_EPOCHS, PATIENCE, distribution)
    epochs_run = len(history.history["loss"])
    seconds = time.perf_counter() - started
    twin, twin_history = fit(train_pixels, validation_pixels, "score_function", epochs_run, epochs_run,
                             distribution)
    twin_seconds = time.perf_counter() - started - seconds
    if not is_chief(distribution):
        return None
    metrics = measure(model, train_pixels, validation_pixels, test_pixels)
    twin_figures = figures(twin, test_pixels)
    variance = gradient_variance(model, test_pixels)
    references = _references(registry)
    run = {
        "total_seconds": time.perf_counter() - started,
        "epochs": epochs_run,
        "best_epoch": _best_epoch(history),
        "twin_best_epoch": _best_epoch(twin_history),
        "seconds": seconds,
        "twin_seconds": twin_seconds,
    }
    card = _card(model, metrics, twin_figures, variance, references, run, fingerprint)
    folder = registry.save_preset(
        model,
        PRESET_NAME,
        root=zoo,
        overwrite=overwrite,
        card=card,
        data={
            "source": "sklearn.datasets.load_digits (1,797 8x8 images, pixels 0..16)",
            "split": f"flow-digits' split (tfspeech.recipes.flow_digits.splits): {len(test_pixels)} held out "
            f"(gmm-digits' split), {len(validation_pixels)} validate, {len(train_pixels)} train",
            "preprocessing": "pixel levels v given as v / 16; no dequantization (the likelihood is over the 17 levels)",
            "fingerprint": fingerprint,
        },
        training={
            "command": TRAIN_COMMAND,
            "model": f"VariationalAutoencoder({', '.join(f'{k}={v!r}' for k, v in MODEL_CONFIG.items())})",
            "optimizer": f"Adam {LEARNING_RATE:g}, batch {BATCH_SIZE}, negative ELBO with model.fit, "
            "reparameterization gradients",
            "epochs": f"{epochs_run} run, best validation ELBO at epoch {run['best_epoch']} "
            f"(early stopping, patience {PATIENCE})",
            "wall_seconds": round(seconds, 1),
            "recipe_wall_seconds": round(run["total_seconds"], 1),
            "hardware": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
            "score_function_twin": {
                "epochs": f"{epochs_run} (the preset's), best validation ELBO at epoch {run['twin_best_epoch']}",
                "wall_seconds": round(twin_seconds, 1),
                "held_out": {name: round(value, 4) for name, value in twin_figures.items()},
            },
            "gradient_variance": [
                {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()} for row in variance
            ],
        },
        metrics={name: {"value": round(value, 4), "command": EVALUATE_COMMAND} for name, value in metrics.items()},
    )
    save_samples_figure(model, test_pixels, folder / SAMPLES_FIGURE)
    return folder, metrics, twin_figures, variance


def fit(train_pixels, validation_pixels, estimator, epochs, patience, strategy=None):
    """A fresh VAE (seeded: the same initial weights and batches for either estimator), fitted
    with the best validation epoch kept (under ``strategy``, default: the current one); returns
    ``(model, history)``."""
    from tfspeech.probabilistic.vae import VariationalAutoencoder

    keras.utils.set_random_seed(TRAINING_SEED)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = VariationalAutoencoder(**MODEL_CONFIG, estimator=estimator)
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE))
    batches = (
        tf.data.Dataset.from_tensor_slices(images(train_pixels))
        .shuffle(len(train_pixels), seed=TRAINING_SEED)
        .batch(BATCH_SIZE)
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    history = model.fit(
        batches,
        epochs=epochs,
        validation_data=(images(validation_pixels),),
        callbacks=[stop, EpochProgress(epochs, f"VAE ({estimator}) on digits, -ELBO nats/image")],
        verbose=0,
    )
    return model, history


def _best_epoch(history) -> int:
    return int(np.argmin(history.history["val_loss"])) + 1


class EpochProgress(keras.callbacks.Callback):
    """A tqdm bar over epochs showing the training and validation loss."""

    def __init__(self, epochs: int, description: str):
        super().__init__()
        self.epochs, self.description = epochs, description

    def on_train_begin(self, logs=None):
        self.bar = tqdm(total=self.epochs, desc=self.description)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.set_postfix(train=f"{logs['loss']:.1f}", validation=f"{logs['val_loss']:.1f}")
        self.bar.update()

    def on_train_end(self, logs=None):
        self.bar.close()


def measure(model, train_pixels, validation_pixels, test_pixels) -> dict:
    """The preset's metrics: :func:`figures` of the held-out, validation and training images."""
    metrics = {}
    for split, pixels in (("held_out", test_pixels), ("validation", validation_pixels), ("train", train_pixels)):
        metrics.update({f"{split}_{name}": value for name, value in figures(model, pixels).items()})
    return metrics


def save_samples_figure(model, test_pixels, path, columns=10):
    """A PNG grid: held-out images, their reconstructions (decoder mean at the posterior mean),
    decoder means at prior draws, and draws of the model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = images(test_pixels[:columns])
    latents = model.prior().sample(columns, seed=tf.constant([EVALUATION_SEED, 0]))
    rows = {
        "held out": x,
        "reconstruction": model.decode(model.encode(x)[0]).numpy(),
        "decoder mean, z ~ p(z)": model.decode(latents).numpy(),
        "draw of the model": model.sample(columns, seed=EVALUATION_SEED).numpy(),
    }
    figure, axes = plt.subplots(len(rows), columns, figsize=(columns * 0.8, len(rows) * 0.95))
    for row, (label, pictures) in enumerate(rows.items()):
        for column in range(columns):
            axis = axes[row, column]
            axis.imshow(pictures[column, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _references(registry) -> dict:
    """The other digit presets' held-out figures, read from their preset.json."""
    flow = registry.info("flow-digits")["metrics"]["held_out_bits_per_dim"]["value"]
    gmm = registry.info("gmm-digits")["metrics"]["held_out_mean_log_likelihood"]["value"]
    return {"flow_bits_per_dim": flow, "gmm_nats": gmm}


def _card(model, metrics, twin, variance, references, run, fingerprint):
    parameters = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    nats_per_bit_dim = PIXELS * np.log(2)
    variance_rows = "\n".join(
        f"| {row['estimator']} | {row['encoder_variance']:.4g} | {row['decoder_variance']:.4g} | "
        + (f"{row['encoder_entries_beyond_3_standard_errors']:.4f} |" if "encoder_entries_beyond_3_standard_errors"
           in row else "(reference) |")
        for row in variance
    )
    ratio = variance[1]["encoder_variance"] / variance[0]["encoder_variance"]
    m = metrics
    return f"""# {PRESET_NAME}

A variational autoencoder (Gaussian latent, 16 dimensions; MLP encoder and decoder with one
hidden layer of 256 units; {parameters:,} trainable parameters) on scikit-learn's 8x8
handwritten digits, trained by maximizing the ELBO with `model.fit` and reparameterization
gradients. `model(x)` is a Monte Carlo ELBO per image in nats; `fit` maximizes its mean.

```python
import numpy as np
import tfspeech.zoo
from sklearn.datasets import load_digits

model = tfspeech.zoo.load("{PRESET_NAME}")
x = (load_digits().data / 16).reshape(-1, 8, 8, 1).astype("float32")    # levels v as v / 16
elbo = model.elbo(x, num_samples=100, seed=0)                # nats/image, ≤ log P(v)
log_p = model.importance_weighted_bound(x[:100], num_samples=1000)  # tighter, still a lower bound
loc, scale = model.encode(x)                                  # q(z|x), (N, 16) each
means = model.decode(loc)                                     # (N, 8, 8, 1) in [0, 1]
draws = model.sample(16, seed=0)                              # (16, 8, 8, 1), levels / 16
model.fit(x, epochs=5)                                        # fine-tune: the negative ELBO is the loss
```

## Model and units

`p(z) = N(0, I_16)`; given `z`, the 64 pixels are independent categoricals over the 17 levels
0..16 (the decoder gives 64 × 17 logits); `q(z|x)` is a diagonal Gaussian. Inputs are images
in `[0, 1]`, and pixel level `v = min(⌊17 x⌋, 16)`, so `v / 16` and dequantized `(v + U) / 17`
both work. The likelihood is a probability of the pixel levels, so `-ELBO(v)` (and, in
expectation, `-IWAE_k(v)`) is an upper bound on `-log P(v)` in nats per image, and
`-ELBO / (64 ln 2)` one in bits per dimension. `flow-digits` reports an upper bound on the
same `-log P(v)` per dimension (a density of dequantized pixels plus the dequantization
bound), so the bits/dim figures below compare directly; 1 bit/dim is {nats_per_bit_dim:.2f} nats/image.

## Data

`sklearn.datasets.load_digits`, 1,797 images, split as `flow-digits`: `gmm-digits`' 359
held-out images; of the other 1,438, 144 (permutation by `default_rng(1)`) choose the epoch and
1,294 train. Fingerprint (sha256 of pixels + permutation): `{fingerprint[:16]}…`. No
dequantization: the likelihood is discrete.

## Training

`{TRAIN_COMMAND}`: Adam {LEARNING_RATE:g}, batch {BATCH_SIZE}, {MODEL_CONFIG['num_samples']} draws of `z`
per image, KL term in closed form; early stopping on the validation ELBO (patience {PATIENCE}):
{run['epochs']} epochs, the best at epoch {run['best_epoch']}; {run['seconds']:.0f} s on {os.cpu_count()} shared
CPU cores. The same command then trains the score-function twin ({run['twin_seconds']:.0f} s) and
measures everything below ({run['total_seconds']:.0f} s in all).

## Metrics

Measured by `{EVALUATE_COMMAND}` (seeded: the ELBO averages {ELBO_SAMPLES} draws per image;
the IWAE bound uses k = {IWAE_SAMPLES}):

| data | ELBO (nats/image) | KL term (nats) | IWAE k={IWAE_SAMPLES} (nats/image) | ELBO bits/dim | IWAE bits/dim |
|---|---:|---:|---:|---:|---:|
| held out (359 images) | {m['held_out_elbo_nats']:.2f} | {m['held_out_kl_nats']:.2f} | {m['held_out_iwae_nats']:.2f} | **{m['held_out_elbo_bits_per_dim']:.3f}** | **{m['held_out_iwae_bits_per_dim']:.3f}** |
| validation (144) | {m['validation_elbo_nats']:.2f} | {m['validation_kl_nats']:.2f} | {m['validation_iwae_nats']:.2f} | {m['validation_elbo_bits_per_dim']:.3f} | {m['validation_iwae_bits_per_dim']:.3f} |
| training (1,294) | {m['train_elbo_nats']:.2f} | {m['train_kl_nats']:.2f} | {m['train_iwae_nats']:.2f} | {m['train_elbo_bits_per_dim']:.3f} | {m['train_iwae_bits_per_dim']:.3f} |

Next to the other digit presets, on the same 359 held-out images:

| model | held-out figure | what it bounds |
|---|---:|---|
| this VAE, ELBO | {m['held_out_elbo_bits_per_dim']:.3f} bits/dim ({-m['held_out_elbo_nats']:.2f} nats/image) | `-log P(v)` from above |
| this VAE, IWAE k={IWAE_SAMPLES} | {m['held_out_iwae_bits_per_dim']:.3f} bits/dim ({-m['held_out_iwae_nats']:.2f} nats/image) | `-log P(v)` from above, in expectation |
| the same VAE trained with the score-function estimator, ELBO | {twin['elbo_bits_per_dim']:.3f} bits/dim | `-log P(v)` from above |
| the same, IWAE k={IWAE_SAMPLES} | {twin['iwae_bits_per_dim']:.3f} bits/dim | `-log P(v)` from above, in expectation |
| `flow-digits` (Glow, dequantized) | {references['flow_bits_per_dim']:.3f} bits/dim | `-log P(v)` from above (dequantization bound) |
| uniform over the 17 levels | {np.log2(LEVELS):.3f} bits/dim | exact |
| `gmm-digits` | {references['gmm_nats']:.2f} nats/image | **not comparable**: a log-density of 16 continuous PCA coordinates, not a probability of the 64 pixel levels |

## Score function against reparameterization

The twin has this preset's architecture, initial weights, batches, {MODEL_CONFIG['num_samples']} draws per image
and {run['epochs']} epochs (its best validation epoch: {run['twin_best_epoch']}); its encoder's gradient is
REINFORCE with a leave-one-out baseline (`estimator="score_function"`). Held out: ELBO
{twin['elbo_nats']:.2f} nats/image (KL term {twin['kl_nats']:.2f}), IWAE {twin['iwae_nats']:.2f}, against
{m['held_out_elbo_nats']:.2f} (KL {m['held_out_kl_nats']:.2f}) and {m['held_out_iwae_nats']:.2f} here.

Gradient variance at this preset's weights: the mean-ELBO gradient of a fixed batch of
{VARIANCE_BATCH} held-out images, {MODEL_CONFIG['num_samples']} draws per image, over {VARIANCE_REPEATS} seeds per estimator;
total variance = the sum over weight entries of each entry's variance. The decoder's gradient is
the same estimator in all three (the decoder does not shape the sampling distribution).

| estimator | encoder total variance | decoder total variance | encoder entries whose mean differs from reparameterization's by > 3 SE |
|---|---:|---:|---:|
{variance_rows}

The score function's encoder gradient is {ratio:,.0f} times as variable as the
reparameterization gradient here, even with its baseline. The last column checks unbiasedness
(each estimator draws with its own seeds): were the means normal and the estimators unbiased,
about 0.0027 of the entries would lie beyond 3 standard errors. The score function without a
control variate is so heavy-tailed that {VARIANCE_REPEATS} seeds estimate its standard errors poorly and
its share comes out higher; unbiasedness is tested with tighter statistics on a small model
(`tests/probabilistic/test_vae.py`).

![samples]({SAMPLES_FIGURE})

Rows: held-out images; their reconstructions (decoder mean at the posterior mean); decoder
means at draws from the prior; draws of the model (pixels sampled from the categoricals).
"""


def evaluate(zoo=ZOO):
    """Loads the saved preset, prints its metrics next to the recorded ones, and the gradient variance."""
    from tfspeech import zoo as registry

    model = registry.load(PRESET_NAME, root=zoo)
    recorded = registry.info(PRESET_NAME, root=zoo)
    train_pixels, validation_pixels, test_pixels, fingerprint = splits()
    if recorded["data"]["fingerprint"] != fingerprint:
        raise RuntimeError("scikit-learn's digits or the split changed since the preset was trained; re-train it.")
    for name, value in measure(model, train_pixels, validation_pixels, test_pixels).items():
        print(f"{name}: {value:.4f} (recorded {recorded['metrics'][name]['value']})")
    for row in gradient_variance(model, test_pixels):
        print(", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in row.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="re-measure the saved preset instead of training")
    parser.add_argument("--zoo", type=Path, default=ZOO, help="zoo folder (default: the repository's zoo/)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset")
    add_strategy_option(parser)
    args = parser.parse_args(argv)
    if args.evaluate:
        evaluate(args.zoo)
    elif (result := train(args.zoo, args.overwrite, args.strategy)) is not None:
        folder, metrics, twin, variance = result
        print(
            f"saved {folder}: held-out ELBO {metrics['held_out_elbo_bits_per_dim']:.3f} bits/dim, "
            f"IWAE {metrics['held_out_iwae_bits_per_dim']:.3f} (score-function twin: ELBO "
            f"{twin['elbo_bits_per_dim']:.3f}, IWAE {twin['iwae_bits_per_dim']:.3f}); encoder gradient variance "
            f"{variance[0]['encoder_variance']:.4g} (reparameterization) vs {variance[1]['encoder_variance']:.4g} "
            "(score function)"
        )


if __name__ == "__main__":
    main()
