#!/usr/bin/env bash
# The cost of authentication and authorization on the metric GET: two demo servers side by
# side, one checking every request (bearer token through TokenReview and a
# SubjectAccessReview, both cached 10 s, answered by scripts/fake_reviewer.py on loopback),
# one with `--insecure-no-auth`; `oha` drives both at a fixed rate with latency correction,
# in alternating rounds so the VM's drift hits both alike. Reports each round's percentiles,
# the median p99 ratio (checked vs unchecked) and how many reviews the runs caused.
# Usage: scripts/bench-auth.sh [TARGETS] [RATE_PER_SECOND] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-1000}; rate=${2:-2000}; secs=${3:-20}; rounds=${4:-5}; conns=16
command -v oha >/dev/null || { echo "needs oha: cargo install oha --locked"; exit 2; }
source scripts/common.sh
bin=$(tidecast_bin release)
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# The stand-in apiserver: a throwaway CA and a serving certificate for 127.0.0.1 (webpki,
# under the kube client, does not take a self-signed leaf as its own trust anchor).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
  -keyout "$dir/ca.key" -out "$dir/api-ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fake-apiserver \
  -keyout "$dir/api.key" -out "$dir/api.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$dir/api.ext"
openssl x509 -req -in "$dir/api.csr" -CA "$dir/api-ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 1 -extfile "$dir/api.ext" -out "$dir/api.crt" 2>/dev/null
python3 scripts/fake_reviewer.py "$dir/api.crt" "$dir/api.key" "$dir/api.port" "$dir/reviews.json" &
pids+=($!)
until [[ -s $dir/api.port ]]; do sleep 0.1; done
cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$(cat "$dir/api.port")", certificate-authority: "$dir/api-ca.crt"}}]
users: [{name: tidecast, user: {token: server-token}}]
contexts: [{name: fake, context: {cluster: fake, user: tidecast}}]
current-context: fake
KC

start() { # NAME FLAGS...: a demo with TARGETS services in real time
  local name=$1; shift
  local port; port=$(free_port)
  "$bin" demo --services "$targets" --no-board --speed 1 --start now --port "$port" --dir "$dir/$name" "$@" \
    > "$dir/$name.out" 2> "$dir/$name.err" &
  pids+=($!)
  echo "$port" > "$dir/$name.port"
}
start checked --kubeconfig "$dir/kubeconfig"
start open --insecure-no-auth
token=(-H 'Authorization: Bearer bench-client')
for name in checked open; do
  url="https://127.0.0.1:$(cat "$dir/$name.port")"
  t0=$(date +%s)
  until [[ $(curl -s --cacert "$dir/$name/ca.crt" "${token[@]}" "$url/metrics" | grep -c 'tidecast_target_state{.*state="fresh"} 1') -ge $targets ]]; do
    sleep 2
    (( $(date +%s) - t0 < 900 )) || { echo "$name: targets not all fresh after 900 s"; cat "$dir/$name.err" | tail -5; exit 1; }
  done
done
echo "both servers: $targets targets fresh"
path="/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service%3Dsvc-$(printf %05d $(( targets / 2 )))"
for name in checked open; do
  url="https://127.0.0.1:$(cat "$dir/$name.port")"
  curl -s --cacert "$dir/$name/ca.crt" "${token[@]}" "$url$path" | grep -q '"items":\[{' \
    || { echo "$name: the benchmarked GET returns no item"; exit 1; }
done
curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/checked/ca.crt" "https://127.0.0.1:$(cat "$dir/checked.port")$path" \
  | grep -q 401 || { echo "checked: a request without a token must be refused"; exit 1; }
load() { # NAME OUT [HEADERS...]
  local name=$1 out=$2; shift 2
  oha --no-tui -z "${secs}s" -c "$conns" -q "$rate" --latency-correction --cacert "$dir/$name/ca.crt" \
    -H 'Accept: application/json' "$@" "https://127.0.0.1:$(cat "$dir/$name.port")$path" > "$out"
}
# oha picks the unit per figure: printed in milliseconds.
pct() { grep -E "$1% in" "$2" | awk '{v = $3; if ($4 == "secs") v *= 1000; if ($4 == "us") v /= 1000; printf "%.3f", v}'; }
reviews_before=$(cat "$dir/reviews.json")
echo
echo "| round: server | p50 ms | p90 ms | p99 ms | p99.9 ms | requests/s | non-200 |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  for name in checked open; do
    out="$dir/oha-$name-$r.txt"
    if [[ $name == checked ]]; then load "$name" "$out" "${token[@]}"; else load "$name" "$out"; fi
    bad=$(awk '/Status code distribution/ {on=1; next} on && /\[/ && !/\[200\]/ {n += $2} END {print n + 0}' "$out")
    printf '| %s: %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$name" "$(pct 50.00 "$out")" "$(pct 90.00 "$out")" \
      "$(pct 99.00 "$out")" "$(pct 99.90 "$out")" "$(grep Requests/sec "$out" | awk '{printf "%.0f", $2}')" "$bad"
  done
done
echo
python3 - "$dir" "$rounds" <<'PY'
import re, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
def p99(name, r):
    text = open(f"{d}/oha-{name}-{r}.txt").read()
    m = re.search(r"99\.00% in ([0-9.]+) (secs|ms|us)", text)
    return float(m.group(1)) * {"secs": 1e3, "ms": 1.0, "us": 1e-3}[m.group(2)]
ratios = [p99("checked", r) / p99("open", r) for r in range(1, rounds + 1)]
print("p99 ratio checked/open by round: " + ", ".join(f"{x:.2f}" for x in ratios))
print(f"median p99 ratio: {statistics.median(ratios):.2f} (target <= 1.10)")
PY
echo "reviews before the runs: $reviews_before; after: $(cat "$dir/reviews.json")"
