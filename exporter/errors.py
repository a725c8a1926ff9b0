"""Errors shared across stages, kept apart so that any module can raise them without
importing the module that reports them."""


class ConfigError(ValueError):
    """A bad flag, variable or file; the message names it. Start-up stops on it."""
