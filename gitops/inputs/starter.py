"""``gitops init``: a starter project that renders and checks clean.

Three environments show the schema: ``base`` (abstract: only extended), ``dev`` (one
cluster, guardrails that audit) and ``prod`` (a fleet of two clusters, guardrails that
deny, one cluster with values of its own); one YAML blueprint holds an InferenceStack and
a plain object. Writing refuses to overwrite anything: every file is checked first.
"""

from __future__ import annotations

from pathlib import Path

from gitops.core.errors import InputError

#: The starter project: relative path -> text.
FILES: dict[str, str] = {
    ".gitignore": "# gitops render writes the GitOps repository here by default.\nbuild/\n",
    "environments/base.yaml": """\
# Shared by every environment that says `extends: base`; never rendered itself.
name: base
abstract: true
namespaces: [inference]            # the first one is the default namespace
guardrails:
  engine: vap                      # vap (ValidatingAdmissionPolicy) | kyverno
  action: Deny                     # Deny | Warn | Audit
  allowed_registries: [registry.example.com/]
repo_url: https://git.example.com/platform/gitops.git   # what Argo CD and Flux read
""",
    "environments/dev.yaml": """\
# Development: one cluster, guardrails report but do not block, one small replica.
name: dev
extends: base
cluster:
  name: dev-gpu
  server: https://dev-gpu.k8s.example.com:6443
guardrails:
  action: Audit
overrides:
  chat:                            # a stack id from blueprints/
    replicas: 1
    max_model_len: 8192
""",
    "environments/prod.yaml": """\
# Production: the same definition on two clusters; only what differs is written per cluster.
name: prod
extends: base
quotas: {gpu: 16, cpu: "256", memory: 2Ti}
overrides:
  chat:
    replicas: 2
    gpu_product: NVIDIA-H100-80GB-HBM3
clusters:
  - name: us-east-1
    server: https://us-east-1.k8s.example.com:6443
    labels: {region: us-east}
  - name: eu-west-1
    server: https://eu-west-1.k8s.example.com:6443
    labels: {region: eu-west}
    overrides:
      chat: {gpu_product: NVIDIA-A100-SXM4-80GB}
""",
    "blueprints/chat.yaml": """\
# One chat model served by vLLM on one GPU: Deployment, Service, model cache, probes,
# disruption budget and monitor. Environments override what differs (replicas, GPUs...).
kind: InferenceStack
name: chat
model: Qwen/Qwen2.5-7B-Instruct
image: registry.example.com/vllm/vllm-openai:v0.8.5
gpus: 1
cpu: "8"
memory: 48Gi
max_model_len: 16384
labels: {team: ml-platform}
strict: true                       # refuse :latest and untagged images
---
# A plain Kubernetes object beside the stack, rendered as written.
apiVersion: v1
kind: ConfigMap
metadata:
  name: chat-prompts
  namespace: inference
data:
  system: You are a helpful assistant.
""",
}


def write_starter(directory: Path) -> list[Path]:
    """Write the starter project into ``directory`` (created if missing); return the files.

    Raises:
        InputError: a file of the starter already exists (nothing is written then).
    """
    targets = {directory / relative: text for relative, text in FILES.items()}
    existing = sorted(str(path) for path in targets if path.exists())
    if existing:
        raise InputError(
            f"{directory}: would overwrite {', '.join(existing)}; nothing written "
            "(run gitops init in an empty directory)"
        )
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(targets)
