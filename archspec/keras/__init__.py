"""The planned graph as an ordinary ``keras.Model``, and models as files.

``builder`` translates each graph node into one Keras layer (``layers`` holds archspec's own,
all registered for safe serialisation); ``build`` is ``build_model`` and ``load_model``;
``model_io`` loads ``.keras`` files without running code they carry; ``export`` writes and checks
SavedModel and ONNX; ``stats`` measures a built model; ``drawing`` draws networks; ``quiet``
imports TensorFlow without its start-up noise; ``registration`` registers the layers with Keras whenever
Keras is imported, for ``import archspec``. Uses ``archspec.graph`` and ``archspec.spec``.
Importing this package does not import keras: its modules do.
"""
