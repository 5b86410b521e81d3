"""tfspeech.audio"""
