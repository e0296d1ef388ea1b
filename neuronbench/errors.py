"""The one exception type the harness raises for bad input.

The CLI catches it, prints its message (which names the file, the field and what was
expected) and exits with status 2; anything else is a bug and shows a traceback.
"""


class NeuronbenchError(Exception):
    """Bad input or a broken contract: the message says what and where."""
