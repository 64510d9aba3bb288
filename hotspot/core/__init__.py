"""The rules every analysis stands on: errors, progress, the grid, records, the record-to-area join,
place names, memory budgets and atomic writes.

May import: :mod:`hotspot.kernels` only (and the standard scientific stack).
"""
