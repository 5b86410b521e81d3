"""Child process of test_strategy.py: one SGD step of each gradient-trained zoo model on a fixed
global batch, on one device and on two replicas (two logical CPUs, MirroredStrategy); prints
JSON ``{model: relative difference of the two updates}`` (``null``: stochastic, only checked to run)."""

import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from tfspeech.models.ctc import CTCRecognizer  # noqa: E402
from tfspeech.models.istft_vocoder import ISTFTVocoder  # noqa: E402
from tfspeech.models.vocoder_gan import VocoderGAN  # noqa: E402
from tfspeech.models.vqvae import VQVAE  # noqa: E402
from tfspeech.probabilistic.flows import Glow  # noqa: E402
from tfspeech.probabilistic.gmm import GaussianMixtureDensity  # noqa: E402
from tfspeech.probabilistic.hmm_keras import GaussianHMMDensity  # noqa: E402
from tfspeech.probabilistic.vae import VariationalAutoencoder  # noqa: E402
from tfspeech.probabilistic.wgan import WassersteinGAN  # noqa: E402

MEL = {"n_fft": 256, "win_length": 256, "hop_length": 64, "n_mels": 8}
rng = np.random.default_rng(0)


def sgd():
    return keras.optimizers.SGD(0.05)


def vocoder():
    return ISTFTVocoder(MEL, channels=8, intermediate_channels=8, blocks=1, kernel_size=3)


def crops(model):
    frames = 32
    mel = rng.normal(size=(4, frames + model.left_context + model.right_context, 8)).astype("float32")
    return mel, rng.normal(scale=0.1, size=(4, frames * 64)).astype("float32")


# name: (build the model, compile arguments, one global batch as fit's arguments, deterministic)
CASES = {
    "CTCRecognizer": (
        lambda: CTCRecognizer(n_mels=8, conv_filters=8, conv_strides=[2], rnn_units=8, rnn_layers=1, dropout=0.0),
        lambda: {"optimizer": sgd(), "jit_compile": False},
        ({"log_mel": rng.normal(size=(4, 24, 8)).astype("float32"), "num_frames": np.array([24, 20, 16, 22])},
         rng.integers(1, 20, size=(4, 4))), True),
    "GaussianMixtureDensity": (lambda: GaussianMixtureDensity(2, 3), lambda: {"optimizer": sgd()},
                               (rng.normal(size=(4, 3)).astype("float32"),), True),
    "GaussianHMMDensity": (lambda: GaussianHMMDensity(2, 3), lambda: {"optimizer": sgd()},
                           (rng.normal(size=(4, 5, 3)).astype("float32"),), True),
    "Glow": (lambda: Glow(image_shape=(4, 4, 1), num_levels=1, steps_per_level=1, hidden_channels=4),
             lambda: {"optimizer": sgd()}, (rng.uniform(0.1, 0.9, size=(4, 4, 4, 1)).astype("float32"),), True),
    "VQVAE": (lambda: VQVAE(["a", "b"], n_mels=8, channels=8, code_dim=4, num_codes=8, speaker_dim=4,
                            decoder_dilations=(1,), restart_below=0.0),
              lambda: {"optimizer": sgd(), "jit_compile": False},
              ({"log_mel": rng.normal(size=(4, 16, 8)).astype("float32"), "speaker": np.array([0, 1, 0, 1])},),
              True),
    "ISTFTVocoder": (vocoder, lambda: {**vocoder().default_compile_args(), "optimizer": sgd()}, None, True),
    "VocoderGAN": (lambda: VocoderGAN(vocoder(), {"periods": (2,), "resolutions": ((128, 32),),
                                                  "period_channels": (4,), "resolution_channels": 4}),
                   lambda: {"generator_optimizer": sgd(), "discriminator_optimizer": sgd()}, None, True),
    "VariationalAutoencoder": (lambda: VariationalAutoencoder(image_shape=(4, 4, 1), num_levels=3, latent_size=2,
                                                              hidden_units=(8,)),
                               lambda: {"optimizer": sgd()},
                               (rng.integers(0, 3, size=(4, 4, 4, 1)).astype("float32") / 2,), False),
    "WassersteinGAN": (lambda: WassersteinGAN(2, noise_dim=2, generator_units=(4,), critic_units=(4,)),
                       lambda: {"critic_optimizer": sgd(), "generator_optimizer": sgd()},
                       (rng.normal(size=(4, 2)).astype("float32"),), False),
}


def step(build, compile_args, batch, strategy, initial):
    with strategy.scope():
        model = build()
        model(batch[0]) if not isinstance(model, (VocoderGAN,)) else model.build()
        model.set_weights(initial)
        model.compile(**compile_args())
    data = tf.data.Dataset.from_tensors(batch)  # one global batch of 4: two per replica
    history = model.fit(data, epochs=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in history.values()), history
    return [np.asarray(w) for w in model.get_weights()]


def main():
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for name in sys.argv[1:] or CASES:
        build, compile_args, batch, deterministic = CASES[name]
        keras.utils.set_random_seed(0)
        model = build()
        if batch is None:
            batch = crops(model.generator if isinstance(model, VocoderGAN) else model)
        model(batch[0]) if not isinstance(model, VocoderGAN) else model.build()
        initial = model.get_weights()
        one_device = step(build, compile_args, batch, tf.distribute.get_strategy(), initial)
        replicas = step(build, compile_args, batch, two, initial)
        update = np.concatenate([(a - b).ravel() for a, b in zip(one_device, initial)])
        difference = np.concatenate([(a - b).ravel() for a, b in zip(replicas, one_device)])
        results[name] = (float(np.abs(difference).max() / np.abs(update).max()) if deterministic else None)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
