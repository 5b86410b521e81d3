"""The speech recognizer's output alphabet: ids of ``CHARACTERS`` plus the CTC blank.

The recognizer predicts ``NUM_CLASSES`` classes per frame: the ids of
``tfspeech.text.CHARACTERS`` (of which it uses lowercase letters, the apostrophe and the
space, ``TRANSCRIPT_SYMBOLS``) and the CTC blank, ``BLANK``, the last class. Padding id 0
(``PAD_ID``) never appears in a transcript, so padded label batches use it.

Pure Python: the model (``tfspeech.models.ctc``) and the decoding front end
(``tfspeech.decoding``) both read it, so neither imports the other for it.
"""

from tfspeech.text.symbols import CHARACTERS, PAD

BLANK = len(CHARACTERS)
NUM_CLASSES = len(CHARACTERS) + 1
PAD_ID = CHARACTERS.index(PAD)
TRANSCRIPT_SYMBOLS = "abcdefghijklmnopqrstuvwxyz' "
