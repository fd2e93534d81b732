"""The network: notation, index form and explicit instances of the layers."""
