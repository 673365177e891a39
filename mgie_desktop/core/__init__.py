"""Pure-Python core: types, sizing, errors and image I/O. No Qt, no torch."""
