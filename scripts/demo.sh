#!/usr/bin/env bash
# make demo: one echo session through ganger, on a real dockerd, with nothing left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GANGER_BIN:-.build/debug/ganger}
config=Examples/echo/ganger.yml
out=$(mktemp) err=$(mktemp)
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$out" "$err"' EXIT

echo "== ganger check"
"$bin" check -c "$config" | sed -n '1,12p'
echo "== ganger run -c $config"
"$bin" run -c "$config" >"$out" 2>"$err" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$out" && break; sleep 0.1; done
grep "listening on" "$out" || { echo "ganger did not start:"; cat "$err"; exit 1; }
addr=$(grep -o 'listening on .*' "$out" | head -1 | awk '{print $3}')
echo "== a client connects to $addr and sends a line; a fresh container echoes it"
python3 - "${addr%:*}" "${addr##*:}" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"hello from the demo\n"); s.shutdown(socket.SHUT_WR)
data = b""
while chunk := s.recv(4096): data += chunk
print("   echoed:", data.decode().strip())
PY
sleep 0.5
left=$(docker ps -aq --filter label=ganger.instance=ganger-echo | wc -l)
echo "== containers of instance ganger-echo after the session: $left"
kill -TERM "$pid"; wait "$pid"; status=$?
echo "== ganger exited with $status after SIGTERM; its log:"
sed 's/^/   /' "$err"
[ "$left" -eq 0 ] && [ "$status" -eq 0 ]
