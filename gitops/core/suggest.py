"""``did you mean`` hints for unknown keys, names and choices (pure).

Every place that refuses an unknown word (an environment key, a blueprint key, an
environment name given to ``--env``) appends the closest known words, found with
:func:`difflib.get_close_matches`, so a typo costs one look at the message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""`` if none is close."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
