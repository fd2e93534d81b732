"""The plan of a training module: a spec's graph of layer kinds (DESIGN.md section 10), lowered from the graph
engine's index formulas.

`plan` builds the forward and backward passes as a small IR (`ir`) by lowering index expressions (`lower`),
shares common subexpressions (`share`) and prints them with a renderer (`render`); `codegen.render` lays the
module out with the template `module.py.j2`.
"""
