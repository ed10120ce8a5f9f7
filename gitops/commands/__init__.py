"""Thin CLI commands: each module registers its arguments and calls one library function.

Modules here import only argparse at the top, so ``gitops --help`` starts fast and never
starts Node.js; the work happens in the library, imported inside ``run``.
"""
