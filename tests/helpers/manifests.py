"""Small manifests the reconcile, plan, prune and apply tests build their sets from.

One namespace (:data:`NS`), one environment identity (:data:`IDENTITY`), and the base and
head sets of a pull request (a bumped image, a stack added and one removed, a rotated token).
"""

from __future__ import annotations

import base64

from gitops.core.keys import Manifest
from gitops.ownership.identity import Identity

NS = "ml"
IDENTITY = Identity("dev", "https://git.example.com/platform/gitops.git")


def namespace(name: str = NS) -> Manifest:
    """A Namespace manifest."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name: str, value: str = "1", ns: str = NS) -> Manifest:
    """A ConfigMap manifest."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": {"value": value},
    }


def deployment(name: str = "vllm", replicas: int = 2, image: str = "vllm:v0.6.0") -> Manifest:
    """A small Deployment manifest."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "engine", "image": image}]},
            },
        },
    }


def widget_crd() -> Manifest:
    """A CRD for ``example.com/v1`` Widget."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def widget(name: str = "w") -> Manifest:
    """A Widget custom resource."""
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"size": 3},
    }


OLD_TOKEN = "hf_old_secret_value_1234"
NEW_TOKEN = "hf_new_secret_value_5678"


def service(name: str) -> Manifest:
    """A Service for a stack."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8000}]},
    }


def secret(token: str) -> Manifest:
    """The HF token Secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf-token", "namespace": NS},
        "type": "Opaque",
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }


def base_set() -> list[Manifest]:
    """Base: stacks llama and old, and the token."""
    return [
        namespace(),
        secret(OLD_TOKEN),
        deployment("llama", image="vllm:v0.6.0"),
        service("llama"),
        deployment("old"),
        service("old"),
    ]


def head_set() -> list[Manifest]:
    """Head: llama's image tag bumped, stack new added, stack old removed, token rotated."""
    return [
        namespace(),
        secret(NEW_TOKEN),
        deployment("llama", image="vllm:v0.6.4"),
        service("llama"),
        deployment("new"),
        service("new"),
    ]
