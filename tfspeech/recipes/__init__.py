"""Recipes: the committed commands that train each zoo preset (`python -m tfspeech.recipes.<name>`)."""
