"""tfspeech.layers"""
