"""Expected errors: bad input a user can fix, said in one line (the CLI shows no traceback).

Every error a user can cause and mend (a setting, a file, a mapping, a race not declared)
derives from RacecrampError; anything else is a bug.
"""

from __future__ import annotations


class RacecrampError(Exception):
    """A problem with the user's input or setup; the message says what and how to mend it."""
