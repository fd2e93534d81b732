"""The document of a network of layer kinds (DESIGN.md section 10): LaTeX through printers, layout in
`templates/graph.tex.j2`, the PDF by `derive.document.pdf`.

- `printer`: `GraphLatexPrinter`, the graph's tensors and gradients in the textbooks' names;
- `steps`: `StepPrinter`, one method per rule (chain rule through an edge, each Kronecker-delta elimination,
  gradients added along several paths, the output layer's rules of the notes);
- `layers`: one layer's section, whatever its kind; `diagram`: the graph as the template draws it;
- `document`: the sections and `render_graph_tex`; `example`: the worked example on the explicit instance.
"""

from derive.document.graph.document import GraphDocument, render_graph_tex

__all__ = ["GraphDocument", "render_graph_tex"]
