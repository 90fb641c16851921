"""Training a spec: data sources checked up front then fed as tf.data pipelines (``data``), the
learning rate of each epoch (``schedules``), the resumable run folder (``run_folder``), the checks
a run makes before writing anything (``preflight``), the trainer itself (``trainer``) and the
throughput and memory benchmark (``bench``). Uses ``archspec.keras`` and the layers below it.
"""
