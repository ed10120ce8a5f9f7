"""What a user writes: environments (with inheritance) and blueprints, read and validated.

Imports :mod:`gitops.constructs` (overrides are validated exactly as the constructor
validates them), :mod:`gitops.policy` (change budgets) and :mod:`gitops.core`.
"""
