"""Recipe for the ``gmm-digits`` preset: a Gaussian mixture density of scikit-learn's 8x8 digits after PCA.

    python -m tfspeech.recipes.gmm_digits              # train, select by BIC, save zoo/gmm-digits
    python -m tfspeech.recipes.gmm_digits --evaluate   # re-measure the saved preset on the held-out split

Data: ``sklearn.datasets.load_digits`` (1,797 images, 64 pixels valued 0..16), split
80/20 by a fixed permutation (``SPLIT_SEED``). A PCA fitted on the training split keeps
``PCA_DIMENSIONS`` components; EM fits mixtures for every covariance type and
``COMPONENT_GRID`` size on the training split and keeps the lowest training BIC. The preset
is a :class:`~tfspeech.probabilistic.GaussianMixtureDensity` whose input projection is the
PCA, so it scores raw 64-pixel images: ``log p`` is the density (nats) of the image's
PCA coordinates.
"""

import argparse
import hashlib
import os
import platform
import time
from pathlib import Path

import numpy as np

PRESET_NAME = "gmm-digits"
SPLIT_SEED = 0
TEST_FRACTION = 0.2
PCA_DIMENSIONS = 16
COMPONENT_GRID = (1, 2, 4, 6, 8, 10, 12, 16, 20, 24, 32)
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
EM_SETTINGS = dict(max_iter=500, tol=1e-4, n_init=4, reg_covar=1e-4, random_state=0, dtype="float64")
ZOO = Path(__file__).resolve().parents[2] / "zoo"
TRAIN_COMMAND = "python -m tfspeech.recipes.gmm_digits"
EVALUATE_COMMAND = "python -m tfspeech.recipes.gmm_digits --evaluate"


def digits_split():
    """``(train (1438, 64), test (359, 64), fingerprint)``: pixels as float64, split by ``SPLIT_SEED``."""
    from sklearn.datasets import load_digits

    images = load_digits().data
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    n_test = int(round(TEST_FRACTION * len(images)))
    fingerprint = hashlib.sha256(images.tobytes() + order.tobytes()).hexdigest()
    return images[order[n_test:]], images[order[:n_test]], fingerprint


def held_out_metrics(model, train, test):
    """``{"held_out_mean_log_likelihood", "held_out_bic", "train_bic"}`` of a Keras density
    (nats per image; BIC with the mixture's free parameters, PCA not counted)."""
    n_parameters = _n_parameters(model)
    figures = {}
    for split, images in (("held_out", test), ("train", train)):
        log_likelihood = model.predict(images.astype(np.float32), batch_size=len(images), verbose=0).astype(np.float64)
        if split == "held_out":
            figures["held_out_mean_log_likelihood"] = float(log_likelihood.mean())
        figures[f"{split}_bic"] = float(-2 * log_likelihood.sum() + n_parameters * np.log(len(images)))
    return figures


def _n_parameters(model):
    from tfspeech.probabilistic import gaussian

    K, D = model.n_components, model.n_features
    return gaussian.n_covariance_parameters(model.covariance_type, K, D) + K * D + K - 1


def train(zoo=ZOO, overwrite=False):
    """Select, fit and save the preset; returns the saved folder."""
    from sklearn.decomposition import PCA
    from tqdm.auto import tqdm

    from tfspeech import zoo as registry
    from tfspeech.probabilistic import GaussianMixture

    started = time.perf_counter()
    train_images, test_images, fingerprint = digits_split()
    pca = PCA(PCA_DIMENSIONS).fit(train_images)
    train_points = pca.transform(train_images)
    grid = [(covariance_type, k) for covariance_type in COVARIANCE_TYPES for k in COMPONENT_GRID]
    fits = {}
    for covariance_type, k in tqdm(grid, desc="GMM grid (BIC on the training split)"):
        fits[covariance_type, k] = GaussianMixture(k, covariance_type=covariance_type, **EM_SETTINGS).fit(train_points)
    bics = {key: model.bic(train_points) for key, model in fits.items()}
    best_key = min(bics, key=bics.get)
    best = fits[best_key]
    model = best.to_keras(input_projection=(pca.mean_, pca.components_.T))
    metrics = held_out_metrics(model, train_images, test_images)
    seconds = time.perf_counter() - started

    selection = "\n".join(
        f"| {covariance_type} | " + " | ".join(f"{bics[covariance_type, k]:.0f}" for k in COMPONENT_GRID) + " |"
        for covariance_type in COVARIANCE_TYPES)
    card = _card(best_key, best.n_iter_, _n_parameters(model), metrics, selection, seconds, fingerprint)
    return registry.save_preset(
        model, PRESET_NAME, root=zoo, overwrite=overwrite, card=card,
        data={"source": "sklearn.datasets.load_digits (1,797 8x8 images, pixels 0..16)",
              "split": f"permutation by numpy default_rng({SPLIT_SEED}); first {len(test_images)} held out, "
                       f"{len(train_images)} train",
              "features": f"PCA to {PCA_DIMENSIONS} dimensions, fitted on the training split, inside the model",
              "fingerprint": fingerprint},
        training={"command": TRAIN_COMMAND, "method": "EM (tfspeech.probabilistic.GaussianMixture), "
                  f"model selection by training BIC over {len(grid)} fits", "selected": {
                      "covariance_type": best_key[0], "n_components": best_key[1], "em_iterations": best.n_iter_},
                  "settings": dict(EM_SETTINGS), "wall_seconds": round(seconds, 1),
                  "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"},
        metrics={name: {"value": round(value, 4), "command": EVALUATE_COMMAND} for name, value in metrics.items()},
    )


def _card(best_key, em_iterations, n_parameters, metrics, selection, seconds, fingerprint):
    covariance_type, k = best_key
    header = " | ".join(str(k) for k in COMPONENT_GRID)
    return f"""# {PRESET_NAME}

A Gaussian mixture density of handwritten 8x8 digits (scikit-learn's `load_digits`): a
`GaussianMixtureDensity` with {k} components, `{covariance_type}` covariances, over the first
{PCA_DIMENSIONS} principal components. The PCA is part of the model, so it takes raw images
(64 pixels, values 0..16) and returns `log p` (nats) of their PCA coordinates.

```python
import tfspeech.zoo
model = tfspeech.zoo.load("{PRESET_NAME}")
log_p = model.predict(images.reshape(-1, 64).astype("float32"))   # (N,)
model.fit(more_images, epochs=5)   # fine-tune by gradient on the negative log-likelihood
```

`tfspeech.probabilistic.GaussianMixture.from_keras(model)` gives the EM model back (in PCA space).

## Data

`sklearn.datasets.load_digits`, 1,797 images; a fixed permutation (`numpy.random.default_rng({SPLIT_SEED})`)
holds out {int(round(TEST_FRACTION * 1797))} images; PCA and EM see only the other
{1797 - int(round(TEST_FRACTION * 1797))}. Fingerprint (sha256 of pixels + permutation): `{fingerprint[:16]}…`.

## Training

`{TRAIN_COMMAND}` ({seconds:.0f} s on {os.cpu_count()} CPUs): EM (`GaussianMixture`, float64, n_init={EM_SETTINGS['n_init']},
tol={EM_SETTINGS['tol']}, reg_covar={EM_SETTINGS['reg_covar']}) for every covariance type and component
count below; the lowest training BIC wins ({em_iterations} EM iterations for the winner).

| BIC (train) | {header} |
|---|{'---:|' * len(COMPONENT_GRID)}
{selection}

## Metrics

Measured by `{EVALUATE_COMMAND}` on the held-out images (BIC counts the mixture's
{n_parameters} free parameters; the PCA is not counted):

| metric | value |
|---|---:|
| held-out mean log-likelihood (nats per image, PCA space) | {metrics['held_out_mean_log_likelihood']:.4f} |
| held-out BIC | {metrics['held_out_bic']:.1f} |
| training BIC | {metrics['train_bic']:.1f} |
"""


def evaluate(zoo=ZOO):
    """Loads the saved preset and prints its held-out metrics next to the recorded ones."""
    from tfspeech import zoo as registry

    model = registry.load(PRESET_NAME, root=zoo)
    train_images, test_images, fingerprint = digits_split()
    recorded = registry.info(PRESET_NAME, root=zoo)
    if recorded["data"]["fingerprint"] != fingerprint:
        raise RuntimeError("scikit-learn's digits or the split changed since the preset was trained; re-train it.")
    for name, value in held_out_metrics(model, train_images, test_images).items():
        print(f"{name}: {value:.4f} (recorded {recorded['metrics'][name]['value']})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="re-measure the saved preset instead of training")
    parser.add_argument("--zoo", type=Path, default=ZOO, help="zoo folder (default: the repository's zoo/)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset")
    args = parser.parse_args(argv)
    if args.evaluate:
        evaluate(args.zoo)
    else:
        print(f"saved {train(args.zoo, args.overwrite)}")


if __name__ == "__main__":
    main()
