"""tfspeech.probabilistic: mixtures and Markov models fitted by EM, returned as tfp distributions."""

from tfspeech.probabilistic import gaussian
