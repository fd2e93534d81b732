"""Printers of the same plan for other array libraries and frameworks (DESIGN.md 13): the array API standard
(`array_api`: NumPy, CuPy, PyTorch tensors, on CPU or GPU) and PyTorch autograd Functions (`torch`)."""
