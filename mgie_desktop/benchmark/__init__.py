"""``mgie-desktop bench``: our default path against the reference path, same run, same inputs.

Targets are ratios measured here, never timed unit tests.
"""
