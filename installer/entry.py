"""The frozen app's entry point: the same ``main`` as the ``mgie-desktop`` console script."""

import multiprocessing
import sys

from mgie_desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start the app again
    sys.exit(main())
