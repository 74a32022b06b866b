#!/usr/bin/env python3
"""Records dockerd's raw replies (status line, headers, chunked framing as sent) into the
http-response, docker, chunked and lines seed corpora. Makes one container labelled
ganger.fuzz-seed (never started) and removes it. Run from Fuzz/: seeds/record-dockerd.py [SOCKET]"""
import json, os, socket, sys, time

SOCK = sys.argv[1] if len(sys.argv) > 1 else "/var/run/docker.sock"
HERE = os.path.dirname(os.path.abspath(__file__))


def raw(method, path, body=None, read_for=5.0):
    """The reply's bytes exactly as received; the connection is closed by us (Connection: close)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(read_for)
    s.connect(SOCK)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    out = b""
    deadline = time.time() + read_for
    try:
        while time.time() < deadline and len(out) < 64 << 10:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def split(reply):
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, body


def payload(reply):
    head, body = split(reply)
    return dechunk(body) if b"chunked" in head.lower() else body


def dechunk(body):
    out, rest = b"", body
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def save(corpus, name, data):
    os.makedirs(os.path.join(HERE, corpus), exist_ok=True)
    with open(os.path.join(HERE, corpus, name), "wb") as f:
        f.write(data)


start = int(time.time())
created = raw("POST", "/v1.41/containers/create?name=ganger-fuzz-seed",
              {"Image": "ganger-echo", "Labels": {"ganger.fuzz-seed": "1"}})
cid = json.loads(payload(created)).get("Id", "")
try:
  replies = {
      "ping": raw("GET", "/_ping"),
      "version": raw("GET", "/v1.41/version"),
      "create": created,
      "inspect": raw("GET", f"/v1.41/containers/{cid}/json"),
      "list": raw("GET", "/v1.41/containers/json?all=true&filters=%7B%22label%22%3A%5B%22ganger.fuzz-seed%22%5D%7D"),
      "head-ping": raw("HEAD", "/_ping"),
      "conflict": raw("POST", "/v1.41/containers/create?name=ganger-fuzz-seed", {"Image": "ganger-echo"}),
      "delete": raw("DELETE", f"/v1.41/containers/{cid}?force=true"),
      "missing": raw("GET", f"/v1.41/containers/{cid}/json"),
  }
finally:
    raw("DELETE", f"/v1.41/containers/{cid}?force=true")
time.sleep(1)
replies["events"] = raw("GET", f"/v1.41/events?since={start}&until={int(time.time()) + 1}"
                        "&filters=%7B%22type%22%3A%5B%22container%22%5D%7D", read_for=4)
# /info names the host (name, id, addresses, proxies): only the fields Ganger reads, and a few
# around them, go into the corpus, as dockerd spelled them.
INFO_KEYS = ("ServerVersion", "Driver", "LoggingDriver", "CgroupDriver", "OSType", "Plugins")
info = json.loads(payload(raw("GET", "/v1.41/info")))
save("docker", "dockerd-info", json.dumps({k: info[k] for k in INFO_KEYS if k in info}).encode())
for name, reply in replies.items():
    # http-response inputs start with a control byte (bit i: the i-th response answers HEAD).
    save("http-response", f"dockerd-{name}", (b"\x01" if name.startswith("head-") else b"\x00") + reply)
    head, body = split(reply)
    if b"chunked" in head.lower():
        save("chunked", f"dockerd-{name}", body)
    data = payload(reply)
    if data.strip().startswith((b"{", b"[")):
        save("docker", f"dockerd-{name}", data)
    if name == "events":
        save("lines", "dockerd-events", data)
        for i, line in enumerate(data.splitlines()[:4]):
            save("docker", f"dockerd-event-{i}", line)
print("recorded", ", ".join(f"{k} ({len(v)} bytes)" for k, v in replies.items()))
