"""tfspeech.text"""
