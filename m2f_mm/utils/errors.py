"""The error raised for bad user data or configuration (as opposed to a bug)."""

__all__ = ['DataError']


class DataError(ValueError):
    """Bad input data or a config that contradicts it; the message names the file or key.

    tools/train.py and tools/test.py print these as one line, without a traceback.
    """
