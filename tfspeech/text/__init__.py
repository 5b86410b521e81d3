"""tfspeech.text: normalization, symbol sets, phonemes, text → ids and back.

``normalize`` (raw text → speakable lowercase words), ``phonemize`` (text →
ARPAbet in the ``{HH AH0 L OW1} ,`` braces format), ``CHARACTERS`` /
``PHONEMES`` (the symbol sets whose ids presets store), ``TextEncoder``
(text or phonemes → ids and back; unknown characters raise ``UnknownSymbolsError``),
``split_sentences`` (text → normalized sentences). Pure Python: importing it loads no
TensorFlow, so device-side runners (export/synthesize_text.py) can use it.
"""

from tfspeech.text.normalize import normalize, split_sentences
from tfspeech.text.phonemes import phonemize
from tfspeech.text.symbols import CHARACTERS, PHONEMES, UnknownSymbolsError
from tfspeech.text.tokenizer import TextEncoder

__all__ = [
    "CHARACTERS", "PHONEMES", "TextEncoder", "UnknownSymbolsError", "normalize", "phonemize", "split_sentences",
]
