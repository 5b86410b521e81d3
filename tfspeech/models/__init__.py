"""tfspeech.models"""
