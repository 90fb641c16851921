"""Published weights into built models: files read without PyTorch or pickle's code execution
(``tensors``, ``torch_pickle``), source tensor names mapped to layers per family (``families``),
the checked transfer (``transfer``), named sources fetched into the Keras cache (``sources``) and the
one entry ``build_model(weights=...)`` uses for every kind (``load``)."""
