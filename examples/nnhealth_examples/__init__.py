"""A small model package used as the demo input: two healthy models and broken variants.

Each broken variant carries one or more deliberate defects; the docstring of each says
which, and which half of nnhealth is expected to find it.
"""
