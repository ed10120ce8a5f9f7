"""What a command does, end to end: read sources, diff, plan, apply, render to Git, report.

The only stage that combines Git (:mod:`gitops.repo`) with the cluster
(:mod:`gitops.cluster.client`).
"""
