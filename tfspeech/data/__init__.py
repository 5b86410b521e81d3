"""tfspeech.data"""
