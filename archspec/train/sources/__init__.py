"""Data sources beyond the built-in ones of ``archspec.train.data``, each read and checked without
TensorFlow; ``base`` holds what every source produces (``Data``, ``Split``)."""
