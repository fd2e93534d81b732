"""Graph modules: networks of layer kinds (DESIGN.md section 10) lowered from the graph engine's index formulas.

`plan` builds the forward and backward passes as a small IR (`ir`) by lowering index expressions (`lower`),
shares common subexpressions (`share`) and prints them with a renderer (`render`); the template
`graph_module.py.j2` lays the module out.
"""

from codegen.graph.module import generate_graph

__all__ = ["generate_graph"]
