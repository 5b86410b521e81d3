"""tfspeech.losses"""
