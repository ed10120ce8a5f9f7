"""The test cluster's PKI: a CA, the API server's serving certificate, an admin client
certificate and the service-account signing keys, made with ``openssl``."""

from __future__ import annotations

import base64
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@dataclass
class Pki:
    """A CA, the API server's serving certificate, an admin client certificate, SA keys."""

    folder: Path

    def create(self) -> Pki:
        """Generate every key and certificate into ``folder``."""
        f = self.folder
        f.mkdir(parents=True, exist_ok=True)
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=gitops-test-ca",
            "-keyout",
            str(f / "ca.key"),
            "-out",
            str(f / "ca.crt"),
        )
        (f / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n"
            "extendedKeyUsage=serverAuth\n"
        )
        (f / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        for name, subject, ext in (
            ("server", "/CN=kube-apiserver", "server.ext"),
            ("admin", "/O=system:masters/CN=admin", "client.ext"),
        ):
            _openssl(
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                str(f / f"{name}.key"),
                "-out",
                str(f / f"{name}.csr"),
            )
            _openssl(
                "x509",
                "-req",
                "-in",
                str(f / f"{name}.csr"),
                "-CA",
                str(f / "ca.crt"),
                "-CAkey",
                str(f / "ca.key"),
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                str(f / ext),
                "-out",
                str(f / f"{name}.crt"),
            )
        _openssl("genrsa", "-out", str(f / "sa.key"), "2048")
        _openssl("rsa", "-in", str(f / "sa.key"), "-pubout", "-out", str(f / "sa.pub"))
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting the CA and presenting the admin certificate."""
        ctx = ssl.create_default_context(cafile=str(self.folder / "ca.crt"))
        ctx.load_cert_chain(str(self.folder / "admin.crt"), str(self.folder / "admin.key"))
        return ctx

    def b64(self, name: str) -> str:
        """A file of the PKI, base64-encoded as kubeconfigs embed it."""
        return base64.b64encode((self.folder / name).read_bytes()).decode()
