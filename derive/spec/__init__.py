"""The spec: safe expressions, the catalog of activations and losses, and the TOML loader."""
