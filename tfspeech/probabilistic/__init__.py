"""tfspeech.probabilistic"""
