"""The vocabulary every stage shares: resource keys, bounded YAML, quantities, errors, labels.

Imports nothing else of gitops. Pure data manipulation, except the one bounded file read
(:func:`gitops.core.yaml_io.read_capped`).
"""
