#!/usr/bin/env bash
# `make bench` (part): sessions per second of Examples/httpd behind ganger, under wrk.
#
# busybox httpd answers one request per connection and closes, and wrk is told `Connection:
# close`, so every request is one TCP connection = one session = one fresh container (or a warm
# one from the pool). Two runs: the example's config as written (pool.warm: 4) and cold
# (pool.warm: 0), each BENCH_HTTP_SECONDS (default 10) with BENCH_HTTP_CONNECTIONS (default 8)
# connections; the direct figure (wrk straight to one httpd container) is the ceiling.
# Writes bench/results/http-<time>.json and a table on stdout. Bounded: every step has a timeout.
# Without wrk (bench/install-peers.sh installs it as root) it prints one SKIP line on stdout and
# exits 0, as ganger-bench does for its missing peers: `make bench` keeps the other figures.
#
# Env: GANGER_BIN (default .build/release/ganger), BENCH_HTTP_SECONDS, BENCH_HTTP_CONNECTIONS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${GANGER_BIN:-.build/release/ganger}
secs=${BENCH_HTTP_SECONDS:-10}
conns=${BENCH_HTTP_CONNECTIONS:-8}
log() { printf 'bench-http.sh: %s\n' "$*" >&2; }
[[ $secs =~ ^[1-9][0-9]*$ ]] || { log "BENCH_HTTP_SECONDS must be a whole number of seconds, got '$secs'"; exit 1; }
[[ $conns =~ ^[1-9][0-9]*$ ]] || { log "BENCH_HTTP_CONNECTIONS must be a positive number, got '$conns'"; exit 1; }
if ! command -v wrk >/dev/null; then
    echo "SKIP httpd sessions/s (direct, warm pool, cold): wrk not available (bench/install-peers.sh installs it)"
    exit 0
fi
[[ -x $bin ]] || { log "$bin missing (make release)"; exit 1; }
Examples/httpd/build.sh

tag="bench-http-$$"
work=$(mktemp -d)
pid=""
direct=""
cleanup() {
    [[ -n $pid ]] && { kill -TERM "$pid" 2>/dev/null || true; timeout 30 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    [[ -n $direct ]] && docker rm -f "$direct" >/dev/null 2>&1 || true
    ids=$(docker ps -aq --filter "label=ganger.instance=$tag")
    [[ -n $ids ]] && docker rm -f $ids >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# wrk_rate URL -> requests/s (= sessions/s here), plus errors, on stdout as "RATE ERRORS"
wrk_rate() {
    local out rate errors
    out=$(timeout $((secs + 30)) wrk -t 2 -c "$conns" -d "${secs}s" --timeout 10s -H 'Connection: close' "$1" 2>&1) || true
    rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    errors=$(awk '/Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} /Non-2xx/ {n += $NF} END {print n + 0}' <<<"$out")
    printf '%s %s\n' "${rate:-0}" "${errors:-0}"
}

# run_ganger WARM -> sets pid and addr. wrk connects from one address far faster than a client
# would: the per-source and accept rate limits are lifted for the measurement.
run_ganger() {
    sed -e "s/^instance:.*/instance: $tag/" -e 's/listen: 127.0.0.1:[0-9]*/listen: 127.0.0.1:0/' \
        -e "s/^status:.*/status: {listen: 127.0.0.1:0}/" -e "s/pool: {warm: [0-9]*}/pool: {warm: $1}/" \
        -e 's/max_duration: 30s/max_duration: 30s/' \
        -e '/^    pool:/a\    per_source: {rate: 0}\n    accept: {rate: 0}' Examples/httpd/ganger.yml >"$work/ganger.yml"
    "$bin" run -c "$work/ganger.yml" >"$work/out" 2>"$work/err" &
    pid=$!
    for _ in $(seq 300); do grep -q "listening on" "$work/out" && break; sleep 0.1; done
    addr=$(grep -o 'listening on .*' "$work/out" | head -1 | awk '{print $3}')
    [[ -n $addr ]] || { log "ganger did not start"; cat "$work/err" >&2; exit 1; }
    sleep 2   # let a warm pool fill
}

stop_ganger() {
    kill -TERM "$pid"; timeout 60 tail --pid="$pid" -f /dev/null || true; pid=""
}

direct=$(docker run -d --label "ganger.instance=$tag" ganger-httpd:latest)
ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$direct")
sleep 0.5
read -r d_rate d_err < <(wrk_rate "http://$ip:12345/")
docker rm -f "$direct" >/dev/null; direct=""

run_ganger 4
read -r w_rate w_err < <(wrk_rate "http://$addr/")
stop_ganger
run_ganger 0
read -r c_rate c_err < <(wrk_rate "http://$addr/")
stop_ganger

kernel=$(uname -r) dockerv=$(docker version --format '{{.Server.Version}}') cores=$(nproc)
printf '\n%-34s %12s %8s\n' "httpd, Connection: close, ${conns} conns, ${secs}s" "sessions/s" "errors"
printf '%-34s %12s %8s\n' "direct (one container, no ganger)" "$d_rate" "$d_err"
printf '%-34s %12s %8s\n' "ganger, pool.warm 4" "$w_rate" "$w_err"
printf '%-34s %12s %8s\n' "ganger, cold (pool.warm 0)" "$c_rate" "$c_err"
mkdir -p bench/results
out="bench/results/http-$(date -u +%Y%m%dT%H%M%SZ).json"
cat >"$out" <<EOF
{"bench": "httpd behind ganger, wrk Connection: close", "seconds": $secs, "connections": $conns,
 "kernel": "$kernel", "dockerd": "$dockerv", "cores": $cores,
 "sessions_per_second": {"direct": $d_rate, "ganger_warm4": $w_rate, "ganger_cold": $c_rate},
 "errors": {"direct": $d_err, "ganger_warm4": $w_err, "ganger_cold": $c_err}}
EOF
log "wrote $out"
