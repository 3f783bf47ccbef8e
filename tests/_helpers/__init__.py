"""Helpers shared by the test suite, one module per area (not tests: nothing here is collected).

Importable as ``_helpers`` because pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in
pyproject.toml): ``core`` (toy score models and blob images), ``cli`` (running the command line),
``froc`` (FROC canvases), ``preprocess`` (fundus-like images for preprocessing),
``train`` (a toy training set and run) and ``dataset_replicas`` (small on-disk dataset copies).
"""
