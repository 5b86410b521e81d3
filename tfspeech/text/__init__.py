"""tfspeech.text: normalization, symbol sets, phonemes, text → ids and back.

``normalize`` (raw text → speakable lowercase words), ``phonemize`` (text →
ARPAbet in the ``{HH AH0 L OW1} ,`` braces format), ``CHARACTERS`` /
``PHONEMES`` (the symbol sets whose ids presets store), ``TextEncoder``
(text or phonemes → ids and back; unknown characters raise ``UnknownSymbolsError``).
"""

from tfspeech.text.normalize import normalize
from tfspeech.text.phonemes import phonemize
from tfspeech.text.symbols import CHARACTERS, PHONEMES, UnknownSymbolsError
from tfspeech.text.tokenizer import TextEncoder

__all__ = [
    "CHARACTERS", "PHONEMES", "TextEncoder", "UnknownSymbolsError", "normalize", "phonemize",
]
