"""The live cluster: the only package that imports ``kubernetes``.

Client, errors, served kinds, the environment's cluster binding, readiness and waiting.
"""
