"""Blueprints x environments -> manifests -> the files of the repository (no Git).

The render pipeline, the repository layout (single clusters and fleets), the re-render
cache, the plaintext-Secret refusal, Argo CD and Flux delivery settings.
"""
