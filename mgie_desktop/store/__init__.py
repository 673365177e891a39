"""Model store: the manifest of files MGIE needs, a resumable verified downloader, and the
steps after it (conversion into the app's bundle, freeing the sources).

Torch-free and Qt-free: the CLI and the window's download dialog (from a worker thread) use
it before any ML library is imported. Modules, one job each:

``manifest``  the versioned ``models_manifest.json`` (validation, safe target paths)
``progress``  typed progress records and the rate/ETA meter
``hashing``   sha256 / git blob hashes in large, cancellable chunks
``state``     hashes recorded when files were verified (and first-download hashes)
``http``      URL sources: ``.part`` files, HTTP Range resume, retries, stall detection
``hf``        Hugging Face sources via huggingface_hub, reusing the user's HF cache
``download``  the ``Downloader``: plan (missing/partial, bytes, free space) and run
``verify``    per-file status and full re-hash
``install``   conversion into the bundle after download; freeing the source files
``commands``  plain functions behind ``models list/download/verify``
"""
