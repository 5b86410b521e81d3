"""Skip a test whose corpus needs a voice this machine lacks (its Debian package is missing;
`make test` installs them)."""

import pytest

from tfspeech.data.voices import Voice, check_voice, parse_voice


def require_voice(spec: str) -> Voice:
    """The parsed ``spec``; skips the calling test when the voice cannot speak here."""
    voice = parse_voice(spec)
    try:
        check_voice(voice)
    except Exception as error:  # the voice's Debian package is missing
        pytest.skip(f"{spec} is not available: {error}")
    return voice
