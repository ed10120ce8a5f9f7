#!/usr/bin/env bash
# Build the test control plane from Go modules and print the folder holding the binaries.
#
# kube-apiserver, kube-controller-manager and kube-scheduler (k8s.io/kubernetes), etcd
# (go.etcd.io/etcd/server/v3) and kwok (sigs.k8s.io/kwok) are built from the modules pinned in
# go/*/go.mod and go.sum, through the Go module proxy: nothing is downloaded by hand.
# The binaries are cached per machine under $GITOPS_CONTROLPLANE_CACHE (default
# ~/.cache/gitops-controlplane), keyed by the pinned versions and the Go version, so only the
# first build costs minutes. Progress goes to stderr; the folder is the only line on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${GITOPS_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-controlplane}"

command -v go >/dev/null || { echo "go: not found on PATH" >&2; exit 3; }

key="$( { go env GOVERSION GOOS GOARCH; cat "$here/build.sh"; \
          for m in kube etcd kwok; do cat "$here/go/$m/go.mod" "$here/go/$m/go.sum"; done; } \
        | sha256sum | cut -c1-16)"
bin="$cache/$key/bin"
names=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

complete() {
    local n
    for n in "${names[@]}"; do [ -x "$bin/$n" ] || return 1; done
}

if ! complete; then
    mkdir -p "$cache"
    # One builder at a time per machine (pytest-xdist workers, two checkouts).
    exec 9>"$cache/.lock"
    flock 9
    if ! complete; then
        tmp="$(mktemp -d "$cache/.build.XXXXXX")"
        trap 'rm -rf "$tmp"' EXIT
        flags=(-trimpath "-ldflags=-s -w")
        # The version the binaries report (/version, kubectl version), as a release build sets it.
        kube_version="$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$here/go/kube/go.mod")"
        minor="$(echo "$kube_version" | cut -d. -f2)"
        v=k8s.io/component-base/version
        kube_flags=(-trimpath "-ldflags=-s -w -X $v.gitVersion=$kube_version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean")
        echo "building the test control plane into $bin (first time on this machine: minutes)" >&2
        (cd "$here/go/etcd" && go build "${flags[@]}" -o "$tmp/etcd" .)
        (cd "$here/go/kwok" && go build "${flags[@]}" -o "$tmp/" sigs.k8s.io/kwok/cmd/kwok)
        # kwok's own "fast" stages (what kwokctl runs by default) and its volume provisioner,
        # from the pinned module; its StorageClass (the cluster's default) beside them.
        kwok_dir="$(cd "$here/go/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
        mkdir -p "$tmp/kwok-stages"
        for stage in node/fast node/heartbeat-with-lease pod/fast volume/fast; do
            for f in "$kwok_dir/kustomize/stage/$stage"/*.yaml; do
                case "$(basename "$f")" in kustomization.yaml|storage-class.yaml) continue ;; esac
                cp "$f" "$tmp/kwok-stages/$(echo "$stage" | tr / -)-$(basename "$f")"
            done
        done
        cp "$kwok_dir/kustomize/stage/volume/fast/storage-class.yaml" "$tmp/kwok-storageclass.yaml"
        (cd "$here/go/kube" && go build "${kube_flags[@]}" -o "$tmp/" \
            k8s.io/kubernetes/cmd/kube-apiserver \
            k8s.io/kubernetes/cmd/kube-controller-manager \
            k8s.io/kubernetes/cmd/kube-scheduler)
        mkdir -p "$cache/$key"
        rm -rf "$bin"
        mv "$tmp" "$bin"
        trap - EXIT
    fi
fi
echo "$bin"
