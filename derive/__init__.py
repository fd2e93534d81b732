"""backprop-derive: exact backpropagation, derived, printed, generated and checked.

`derive.load(spec)` is the Python API (derive/api.py), imported on first call so that the commands start fast.
"""


def load(source, **options):
    """A Network from a spec (a path, a TOML string or a dict); see derive.api.load."""
    from derive.api import load as _load

    return _load(source, **options)


__all__ = ["load"]
