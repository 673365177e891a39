"""MGIE Desktop: instruction-based photo editing with Apple's MGIE, on your own machine."""

__version__ = "0.1.0"
APP_NAME = "MGIE Desktop"  # what windows and dialogs are titled
