"""The ``gitops`` command line: parse, call one workflow, map errors to exit codes.

:mod:`gitops.cli.main.main` is the entry point; one module per command.
"""
