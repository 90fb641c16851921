"""Published weights into built models and back out: files read without PyTorch or pickle's code execution
(``tensors``, ``torch_pickle``), source tensor names mapped to layers per family (``families``), the checked
transfer and its inverse (``transfer``), named sources fetched into the Keras cache (``sources``), the one
entry ``build_model(weights=...)`` uses for every kind (``load``); and, the other way, the registry networks'
state dicts (``registry``) and files written as PyTorch's side reads them (``writers``), which
``archspec.keras.weights_export`` uses."""
