"""Errors that reach the user as one line."""


class SpecError(ValueError):
    """A network spec (or an expression inside it) is wrong: the message names file, field and expectation."""


class ExpressionError(ValueError):
    """An expression is not in the safe subset; the message says what was refused."""
