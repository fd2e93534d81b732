"""The document: LaTeX and PDF of a derivation, the worked example, phrases in English and Korean."""
