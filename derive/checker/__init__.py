"""The checker of hand derivations: reading equations and judging them."""
