"""What measures the engine rather than edits with it: random-weight bundles (``random_models``),
the reference's own files written with random weights (``standin``, for ``models random`` and the
full-size CPU benchmark), the reference's own code path (``reference_path``) and the engine
benchmark (``engine_bench``). Torch-side, like engine/, and loaded only by ``bench``, ``models
random`` and the tests; ``engine.tiny`` stays in the engine, where the self-test uses it."""
