"""The MGIE engine: the only package that imports torch, transformers and diffusers.

Import submodules explicitly; this package's own import stays cheap so the CLI and the
window can reach pure helpers (prompt building, bundle inventory) without torch.
"""
