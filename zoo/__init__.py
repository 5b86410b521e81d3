"""Trained presets, shipped inside the wheel as ``tfspeech.presets``.

Each sub-folder is one preset (preset.json, weights, CARD.md); see
``tfspeech.zoo`` for the registry API and ../DESIGN.md for the contract.
"""
