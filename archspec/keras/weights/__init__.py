"""Published weights into built models: files read without PyTorch or pickle's code execution
(``tensors``, ``torch_pickle``), source tensor names mapped to layers per family (``families``),
the checked transfer (``transfer``) and named sources fetched into the Keras cache (``sources``)."""
