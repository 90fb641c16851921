"""What a network is, as data: the pydantic schemas of specs and their ``train:`` recipes, the
safe YAML loader that places every problem at ``file:line:col``, the zoo catalogue with its
published figures, and the errors commands report.

The bottom layer of archspec: it imports nothing above it and never keras or TensorFlow, so
editors and ``archspec validate`` can use it alone.
"""
