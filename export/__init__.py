"""Deployment runners that need no TensorFlow, shipped as ``tfspeech.runtime``.

``litert_runner.py`` runs an exported ``.tflite`` with only numpy and ai-edge-litert;
copy that one file to a device, or import ``tfspeech.runtime.litert_runner``.
"""
