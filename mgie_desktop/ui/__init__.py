"""The PySide6 window. Torch never loads here: the engine runs in EngineWorker's thread."""
