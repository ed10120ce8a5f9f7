"""Desired against live, server-side-apply style, with no false drift (pure).

The diff engine, aligning a live object onto the desired fields, the server's dry-run
verdict, and the text/JSON renderings.
"""
