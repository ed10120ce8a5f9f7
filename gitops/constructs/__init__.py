"""Constructs: inference stacks and guardrails rendered as plain Kubernetes manifests."""
