"""tfspeech.probabilistic: mixtures and Markov models fitted by EM (returned as tfp distributions), a VAE and a WGAN."""

from tfspeech.probabilistic import gaussian
from tfspeech.probabilistic.hmm import CategoricalHMM, GaussianHMM, GMMHMM
from tfspeech.probabilistic.gmm import GaussianMixture, GaussianMixtureDensity
from tfspeech.probabilistic.hmm_keras import DiagonalGMMHMMDensity, GaussianHMMDensity
from tfspeech.probabilistic.vae import VariationalAutoencoder
from tfspeech.probabilistic.wgan import WassersteinGAN
