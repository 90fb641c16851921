"""A spec planned as a graph of named layers, in pure Python.

``plan`` writes a spec's stem, stages (``blocks/``, one builder per block type) and head into
the IR (``ir``); ``complexity`` sums its exact params and MACs; ``guards`` refuses networks too
big to build; ``paths`` counts the paths through residual blocks; ``load`` gives specs that are
both schema-valid and plannable; ``catalogue``, ``report`` and ``diff`` present the figures.
Uses ``archspec.spec``; never imports keras or TensorFlow.
"""
