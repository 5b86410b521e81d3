"""tfspeech: a TensorFlow/Keras model zoo for speech and probabilistic models.

Load a trained preset with ``tfspeech.zoo.load(name)``, fine-tune it with
``model.fit``, export it with ``tfspeech.export.saved_model`` / ``tflite``.
Sub-packages import TensorFlow lazily so the command line stays quick.
"""

__version__ = "0.1.0"
