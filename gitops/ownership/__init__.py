"""Which live objects are ours (ApplySet identity) and pruning them safely: one definition.
"""
