"""Recipe for the ``flow-digits`` preset: Glow on scikit-learn's 8x8 digits, dequantized.

    python -m tfspeech.recipes.flow_digits              # train, save zoo/flow-digits
    python -m tfspeech.recipes.flow_digits --evaluate   # re-measure the saved preset on the held-out split

Data: the held-out split of ``gmm-digits`` (:func:`tfspeech.recipes.gmm_digits.digits_split`:
1,438 training and 359 held-out images). ``VALIDATION_SIZE`` training images (seeded) pick the
epoch (early stopping); the rest train.

Dequantization: pixel values ``v ∈ {0..16}`` become ``u = (v + U) / 17``, ``U ~ Uniform[0, 1)^64``,
with fresh noise every epoch. The model is a density ``p(u)`` on ``[0, 1]^64`` (its logit
preprocessing and that Jacobian are inside the flow). Per image, ``-log P(v) ≤ E_U[-log p(u)] +
64 log 17`` (the dequantization bound of Theis et al. 2016; ``64 log 17`` is the Jacobian of
the scaling by 1/17), so the held-out figure in bits per dimension is::

    bits/dim = mean over images and DRAWS seeded noise draws of  -log p(u) / (64 ln 2)  +  log2(17)

an upper bound on the discrete negative log-likelihood; a uniform model scores log2(17) = 4.087.

``--strategy`` distributes the fit (``tfspeech.recipes.strategy``); the chief alone measures and
saves the preset.
"""

import argparse
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfspeech.recipes.strategy import add_strategy_option, is_chief, make_strategy

PRESET_NAME = "flow-digits"
LEVELS = 17  # pixel values 0..16
PIXELS = 64
IMAGE_SHAPE = (8, 8, 1)
MODEL_CONFIG = dict(image_shape=IMAGE_SHAPE, num_levels=2, steps_per_level=4, hidden_channels=64, logit_alpha=0.05)
VALIDATION_SIZE = 144
VALIDATION_SEED = 1
TRAINING_SEED = 0
BATCH_SIZE = 64
MAX_EPOCHS = 300
PATIENCE = 15  # epochs without a better validation NLL before stopping (the best weights are kept)
DRAWS = 8  # dequantization noise draws per image in the reported figures
EVALUATION_SEED = 1000
GMM_COMPONENTS = (1, 5, 10, 20, 40)
ZOO = Path(__file__).resolve().parents[2] / "zoo"
TRAIN_COMMAND = "python -m tfspeech.recipes.flow_digits"
EVALUATE_COMMAND = "python -m tfspeech.recipes.flow_digits --evaluate"


def splits():
    """``(train, validation, test, fingerprint)``: pixel values (float64, ``[N, 64]``, 0..16)."""
    from tfspeech.recipes.gmm_digits import digits_split

    train, test, fingerprint = digits_split()
    order = np.random.default_rng(VALIDATION_SEED).permutation(len(train))
    return train[order[VALIDATION_SIZE:]], train[order[:VALIDATION_SIZE]], test, fingerprint


def dequantize(pixels, seed):
    """``(pixels + U) / 17`` with seeded ``U ~ Uniform[0, 1)``, as float32 images ``[N, 8, 8, 1]``."""
    noise = np.random.default_rng(seed).uniform(size=pixels.shape)
    return ((pixels + noise) / LEVELS).astype(np.float32).reshape(-1, *IMAGE_SHAPE)


def bits_per_dim(log_density):
    """Bits per pixel on the 0..16 scale from ``log p(u)`` (nats, ``u`` on ``[0, 1]^64``), averaged."""
    return float(-np.mean(log_density) / (PIXELS * np.log(2)) + np.log2(LEVELS))


def held_out_bits_per_dim(log_prob, pixels):
    """The module doc's figure: ``log_prob`` maps ``[N, 8, 8, 1]`` images in [0, 1] to ``[N]`` nats."""
    return bits_per_dim([log_prob(dequantize(pixels, EVALUATION_SEED + k)) for k in range(DRAWS)])


def train(zoo=ZOO, overwrite=False, strategy="default"):
    """Fits Glow with early stopping, measures it and the GMM reference, saves the preset;
    returns ``(folder, metrics, gmm)``, or None on a worker that is not the chief."""
    from tfspeech import zoo as registry
    from tfspeech.probabilistic.flows import Glow

    started = time.perf_counter()
    train_pixels, validation_pixels, test_pixels, fingerprint = splits()
    distribution = make_strategy(strategy)
    keras.utils.set_random_seed(TRAINING_SEED)
    with distribution.scope():
        model = Glow(**MODEL_CONFIG)
        model.compile(**model.default_compile_args())
    images = (
        tf.data.Dataset.from_tensor_slices(train_pixels.astype(np.float32))
        .shuffle(len(train_pixels), seed=TRAINING_SEED)
        .map(lambda v: tf.reshape((v + tf.random.uniform(tf.shape(v))) / LEVELS, IMAGE_SHAPE))
        .batch(BATCH_SIZE)
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)
    history = model.fit(
        images,
        epochs=MAX_EPOCHS,
        validation_data=(dequantize(validation_pixels, VALIDATION_SEED),),
        callbacks=[stop, EpochProgress(MAX_EPOCHS)],
        verbose=0,
    )
    if not is_chief(distribution):
        return None
    seconds = time.perf_counter() - started
    best_epoch = int(np.argmin(history.history["val_loss"])) + 1
    metrics = measure(model, train_pixels, validation_pixels, test_pixels)
    gmm = gmm_reference(np.concatenate([train_pixels, validation_pixels]), test_pixels)
    card = _card(metrics, gmm, best_epoch, len(history.history["loss"]), seconds, fingerprint, model)
    folder = registry.save_preset(
        model,
        PRESET_NAME,
        root=zoo,
        overwrite=overwrite,
        card=card,
        data={
            "source": "sklearn.datasets.load_digits (1,797 8x8 images, pixels 0..16)",
            "split": f"gmm-digits' split (tfspeech.recipes.gmm_digits.digits_split): {len(test_pixels)} held out; "
            f"of its training images, {VALIDATION_SIZE} (numpy default_rng({VALIDATION_SEED}) permutation) "
            f"validate, {len(train_pixels)} train",
            "preprocessing": "uniform dequantization u = (v + U) / 17 (fresh noise each epoch); the model's "
            "logit_alpha=0.05 logit transform is part of the flow",
            "fingerprint": fingerprint,
        },
        training={
            "command": TRAIN_COMMAND,
            "model": f"Glow({', '.join(f'{k}={v!r}' for k, v in MODEL_CONFIG.items())})",
            "optimizer": "Adam 1e-3, batch 64, maximum likelihood with model.fit",
            "epochs": f"{len(history.history['loss'])} run, best validation NLL at epoch {best_epoch} "
            f"(early stopping, patience {PATIENCE})",
            "wall_seconds": round(seconds, 1),
            "hardware": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        },
        metrics={name: {"value": round(value, 4), "command": EVALUATE_COMMAND} for name, value in metrics.items()},
    )
    return folder, metrics, gmm


def gmm_reference(train_pixels, test_pixels) -> dict:
    """A scikit-learn Gaussian mixture on the same dequantized pixels, in the same units.

    Diagonal and full covariances for each of ``GMM_COMPONENTS``, fitted on one dequantized
    draw of the training images; the lowest training BIC is kept. Returns its description
    and held-out bits/dim.
    """
    from sklearn.mixture import GaussianMixture

    points = dequantize(train_pixels, TRAINING_SEED).reshape(-1, PIXELS).astype(np.float64)
    fits = [
        GaussianMixture(k, covariance_type=kind, reg_covar=1e-4, random_state=0).fit(points)
        for kind in ("diag", "full")
        for k in GMM_COMPONENTS
    ]
    best = min(fits, key=lambda gmm: gmm.bic(points))
    score = held_out_bits_per_dim(lambda images: best.score_samples(images.reshape(-1, PIXELS)), test_pixels)
    return {"model": f"{best.n_components} components, {best.covariance_type} covariances", "bits_per_dim": score}


class EpochProgress(keras.callbacks.Callback):
    """A tqdm bar over epochs showing the training and validation NLL (nats per image)."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_train_begin(self, logs=None):
        self.bar = tqdm(total=self.epochs, desc="Glow on digits (NLL, nats/image)")

    def on_epoch_end(self, epoch, logs=None):
        self.bar.set_postfix(train=f"{logs['loss']:.1f}", validation=f"{logs['val_loss']:.1f}")
        self.bar.update()

    def on_train_end(self, logs=None):
        self.bar.close()


def _card(metrics, gmm, best_epoch, epochs_run, seconds, fingerprint, model):
    parameters = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    uniform = np.log2(LEVELS)
    return f"""# {PRESET_NAME}

Glow (multi-scale: 2 levels of 4 steps of actnorm, invertible 1x1 convolution and affine
coupling; {parameters:,} trainable parameters) on scikit-learn's 8x8 handwritten digits,
trained by maximum likelihood with `model.fit`. Inputs are images `[N, 8, 8, 1]` in
`[0, 1]` (dequantized pixels, see below); `model(x)` is `log p(x)` in nats.

```python
import numpy as np
import tfspeech.zoo
from sklearn.datasets import load_digits

model = tfspeech.zoo.load("{PRESET_NAME}")
pixels = load_digits().data                                   # values 0..16
u = (pixels + np.random.uniform(size=pixels.shape)) / 17      # dequantize
log_p = model.predict(u.reshape(-1, 8, 8, 1).astype("float32"))          # nats, (N,)
bits_per_dim = -log_p / (64 * np.log(2)) + np.log2(17)
samples = np.clip(model.sample(16, seed=0).numpy(), 0, 1)     # (16, 8, 8, 1)
model.fit(u.reshape(-1, 8, 8, 1).astype("float32"), epochs=5)   # fine-tune: the NLL is the loss
```

## Data

`sklearn.datasets.load_digits`, 1,797 images, split as `gmm-digits` (`numpy.random.default_rng(0)`
permutation, 359 held out). Of the 1,438 training images, {VALIDATION_SIZE} (permutation by
`default_rng({VALIDATION_SEED})`) choose the epoch; the other {1438 - VALIDATION_SIZE} train.
Fingerprint (sha256 of pixels + permutation): `{fingerprint[:16]}…`.

## Units: bits per dimension, and the Jacobians in it

Pixels `v ∈ {{0..16}}` are dequantized to `u = (v + U) / 17`, `U ~ Uniform[0, 1)^64`. The model
is a density on `[0, 1]^64`; its `logit_alpha=0.05` logit transform is a bijector inside the
flow, so its log-det is already in `log p(u)`. Going back to the 0..17 scale multiplies the
density by `17^-64`, and the dequantization bound (Theis et al. 2016) gives, per image,
`-log P(v) ≤ E_U[-log p(u)] + 64 log 17`. Reported:
`bits/dim = mean(-log p(u)) / (64 ln 2) + log2(17)` over the images and {DRAWS} seeded noise
draws each: an upper bound on the discrete NLL. A uniform model scores {uniform:.3f}.

## Training

`{TRAIN_COMMAND}`: Adam 1e-3, batch {BATCH_SIZE}, fresh dequantization noise each epoch;
early stopping on the validation NLL (patience {PATIENCE}): {epochs_run} epochs, the best at
epoch {best_epoch}; {seconds:.0f} s on {os.cpu_count()} shared CPU cores.

## Metrics

Measured by `{EVALUATE_COMMAND}` (held out; validation and training images for scale):

| data | bits/dim |
|---|---:|
| held out (359 images) | **{metrics['held_out_bits_per_dim']:.3f}** |
| validation ({VALIDATION_SIZE}) | {metrics['validation_bits_per_dim']:.3f} |
| training ({1438 - VALIDATION_SIZE}) | {metrics['train_bits_per_dim']:.3f} |

References on the same held-out images, in the same units:

| model | held-out bits/dim |
|---|---:|
| this Glow | {metrics['held_out_bits_per_dim']:.3f} |
| Gaussian mixture on the same dequantized pixels ({gmm['model']}, scikit-learn, chosen by training BIC; fitted by `{TRAIN_COMMAND}`) | {gmm['bits_per_dim']:.3f} |
| uniform over the 17 levels | {uniform:.3f} |

The `gmm-digits` preset's figure is **not comparable**: it is a density of 16 PCA
coordinates of the raw pixels (nats per image), not a density over the 64 dequantized pixels.
"""


def evaluate(zoo=ZOO):
    """Loads the saved preset and prints its metrics next to the recorded ones."""
    from tfspeech import zoo as registry

    model = registry.load(PRESET_NAME, root=zoo)
    recorded = registry.info(PRESET_NAME, root=zoo)
    train_pixels, validation_pixels, test_pixels, fingerprint = splits()
    if recorded["data"]["fingerprint"] != fingerprint:
        raise RuntimeError("scikit-learn's digits or the split changed since the preset was trained; re-train it.")
    figures = measure(model, train_pixels, validation_pixels, test_pixels)
    for name, value in figures.items():
        print(f"{name}: {value:.4f} (recorded {recorded['metrics'][name]['value']})")


def measure(model, train_pixels, validation_pixels, test_pixels) -> dict:
    """The preset's metrics for a loaded model."""

    def log_prob(images):
        return model.predict(images, batch_size=512, verbose=0)

    return {
        "held_out_bits_per_dim": held_out_bits_per_dim(log_prob, test_pixels),
        "validation_bits_per_dim": held_out_bits_per_dim(log_prob, validation_pixels),
        "train_bits_per_dim": held_out_bits_per_dim(log_prob, train_pixels),
    }


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
        folder, metrics, gmm = result
        print(f"saved {folder}: held-out {metrics['held_out_bits_per_dim']:.3f} bits/dim "
              f"(GMM reference {gmm['bits_per_dim']:.3f}, uniform {np.log2(LEVELS):.3f})")


if __name__ == "__main__":
    main()
