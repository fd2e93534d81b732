"""The derivation by the chain rule, its rule objects, and the proof by direct differentiation."""
