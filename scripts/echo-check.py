#!/usr/bin/env python3
"""Check a TCP echo service; used to verify the example images and the test daemons.

echo-check.py HOST PORT [--rounds N]            one line per connection, N connections (default 3)
echo-check.py HOST PORT --half-close BYTES      send BYTES random bytes, shutdown(SHUT_WR), read to
                                                EOF while sending; the reply must equal the payload
echo-check.py HOST PORT --expect-refused        the port must refuse or close without data
Waits up to --wait seconds (default 5) for the port to accept. Exit 0 on success, 1 otherwise.
"""
import argparse, os, socket, sys, threading, time


def connect(host, port, wait):
    deadline = time.monotonic() + wait
    while True:
        try:
            return socket.create_connection((host, port), timeout=10)
        except OSError as e:
            if time.monotonic() >= deadline:
                raise SystemExit(f"echo-check: cannot connect to {host}:{port}: {e}")
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--half-close", type=int, metavar="BYTES")
    ap.add_argument("--expect-refused", action="store_true")
    ap.add_argument("--wait", type=float, default=5.0)
    a = ap.parse_args()

    if a.expect_refused:
        try:
            s = socket.create_connection((a.host, a.port), timeout=3)
            s.sendall(b"x\n")
            data = s.recv(16)
        except OSError as e:
            print(f"ok: {a.host}:{a.port} refused/closed: {e}")
            return 0
        if data:
            print(f"FAIL: {a.host}:{a.port} answered {data!r}")
            return 1
        print(f"ok: {a.host}:{a.port} closed without data")
        return 0

    if a.half_close is not None:
        payload = os.urandom(a.half_close)
        s = connect(a.host, a.port, a.wait)
        s.settimeout(30)
        got = bytearray()

        def reader():
            while True:
                b = s.recv(1 << 20)
                if not b:
                    return
                got.extend(b)

        t0 = time.monotonic()
        th = threading.Thread(target=reader)
        th.start()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        th.join(35)
        s.close()
        ok = bytes(got) == payload
        print(f"{'ok' if ok else 'FAIL'}: half-close {len(payload)} bytes sent, {len(got)} back, "
              f"identical={ok}, {time.monotonic() - t0:.3f}s")
        return 0 if ok else 1

    for i in range(a.rounds):
        s = connect(a.host, a.port, a.wait)
        msg = f"ganger echo check {i} {os.getpid()}\n".encode()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            b = s.recv(4096)
            if not b:
                break
            got += b
        s.close()
        if got != msg:
            print(f"FAIL: round {i}: sent {msg!r}, got {got!r}")
            return 1
    print(f"ok: {a.host}:{a.port} echoed {a.rounds} connection(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
