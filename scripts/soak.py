#!/usr/bin/env python3
"""`make soak`: a long churn of live sessions through one `ganger run` on the default dockerd.

SOAK_SESSIONS clients (default 200) each keep a session open, echoing a few KiB every couple of
seconds, for a random 30-90 s, then half-close, read the rest and connect again, for
SOAK_SECONDS (default 600). A fixed share of the sessions (SOAK_RESET_SHARE, default 0.10)
resets instead (SO_LINGER 0) at a random phase: before its first byte, during its launch (bytes
sent, echo not back yet), or mid-relay. Clients start spread over a ramp (a quarter of the run,
at most 60 s), so dockerd is not asked for every container at once.

Reported: sessions served (echo round trips complete, then EOF), resets by phase, failures
(wrong bytes, a session still waiting for its first echo 30 s past Ganger's budget for it,
queue.timeout + ready.timeout, or for a later echo after 60 s), clean early closes (Ganger closed the
session before its echo, a failed launch say; with Ganger's end reasons from /status.json), Ganger's RSS and open
descriptors at the start (idle, after one session), after the ramp, in the middle, at the end
of the load, and once idle again, and the instance's containers left after the SIGTERM.

Exit status 1 when:
- any container of the instance is left after ganger's exit, or ganger does not exit 0;
- any echo came back wrong or any client hung;
- RSS grew by more than max(16 MiB, 10 %) from after the ramp to the end of the load (the
  plateau: the same number of live sessions, so the same working set);
- the descriptors besides the Docker connections (Ganger's only unix sockets; their idle
  keep-alive pool holds up to 8 and varies with the recent load) once idle again differ from the
  idle start by more than 2 (a status request's connection may still be closing);
- no session was served at all.

Env: GANGER_BIN (default .build/release/ganger), SOAK_SECONDS, SOAK_SESSIONS,
SOAK_RESET_SHARE, SOAK_IMAGE (default ganger-echo:latest, port 12345), SOAK_JSON (also write
the figures to this file). Root (for /proc/PID/fd of ganger and the docker CLI). Every wait is
bounded; the teardown (SIGTERM, docker rm -f of the instance) runs also on failure or Ctrl-C.
"""
import asyncio
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GANGER_BIN", os.path.join(ROOT, ".build/release/ganger"))
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
SESSIONS = int(os.environ.get("SOAK_SESSIONS", "200"))
RESET_SHARE = float(os.environ.get("SOAK_RESET_SHARE", "0.10"))
IMAGE = os.environ.get("SOAK_IMAGE", "ganger-echo:latest")
JSON_OUT = os.environ.get("SOAK_JSON", "")
QUEUE_TIMEOUT = 120
READY_TIMEOUT = 10
# A client's first echo waits for its launch: Ganger closes it by its budget (queue.timeout
# from the connect, ready.timeout after the start) when dockerd cannot keep up; only a wait
# well past that budget counts as a hang. Later round trips are container echoes.
FIRST_ECHO_TIMEOUT = QUEUE_TIMEOUT + READY_TIMEOUT + 30
ECHO_TIMEOUT = 60
RSS_TOLERANCE_KIB = 16 * 1024
RSS_TOLERANCE_SHARE = 0.10
FD_TOLERANCE = 2


def log(text):
    print(f"soak: {text}", file=sys.stderr, flush=True)


def docker(*args, timeout=120):
    """`docker ARGS`, bounded; a daemon that does not answer in time gives exit 124, no output."""
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"docker {' '.join(args[:3])} …: no answer within {timeout} s")
        return subprocess.CompletedProcess(args, 124, "", "timed out")


def instance_containers(instance):
    out = docker("ps", "-aq", "--no-trunc", "--filter", f"label=ganger.instance={instance}")
    return out.stdout.split()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def unix_inodes():
    with open("/proc/net/unix") as f:
        next(f)
        return {line.split()[6] for line in f if len(line.split()) > 6}


def fds_besides_docker(pid):
    """Open descriptors that are not unix sockets: Ganger's only unix sockets are its
    connections to dockerd, whose idle keep-alive pool (up to 8) varies with the recent load."""
    unix = unix_inodes()
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if not (target.startswith("socket:[") and target[8:-1] in unix):
            count += 1
    return count


class Stats:
    def __init__(self):
        self.served = 0
        self.round_trips = 0
        self.resets = {"before first byte": 0, "during launch": 0, "mid-relay": 0}
        self.closed_early = 0
        self.wrong = 0
        self.hung = 0
        self.connect_failed = 0
        self.errors = {}

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1


def reset(writer):
    """Closes with RST: SO_LINGER on, zero timeout."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def echo_round(reader, writer, size, timeout):
    payload = os.urandom(size)
    writer.write(payload)
    await asyncio.wait_for(writer.drain(), timeout)
    back = await asyncio.wait_for(reader.readexactly(size), timeout)
    return back == payload


async def session(host, port, stats, deadline):
    """One client session; returns when it ended (served, reset, or failed)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, asyncio.TimeoutError):
        stats.connect_failed += 1
        await asyncio.sleep(1)
        return
    try:
        if random.random() < RESET_SHARE:
            phase = random.choice(list(stats.resets))
            if phase == "before first byte":
                await asyncio.sleep(random.uniform(0, 0.05))
            elif phase == "during launch":
                writer.write(b"launching\n")
                await writer.drain()
                await asyncio.sleep(random.uniform(0, 0.3))
            else:
                for _ in range(random.randint(1, 3)):
                    if not await echo_round(reader, writer, 1024, FIRST_ECHO_TIMEOUT):
                        stats.wrong += 1
                        break
                    stats.round_trips += 1
            stats.resets[phase] += 1
            reset(writer)
            return
        life = random.uniform(30, 90)
        end = min(time.monotonic() + life, deadline)
        # The first round trip waits for the launch (bounded by the queue and launch budgets).
        first = True
        while True:
            if not await echo_round(reader, writer, random.randint(64, 4096), FIRST_ECHO_TIMEOUT if first else ECHO_TIMEOUT):
                stats.wrong += 1
                reset(writer)
                return
            first = False
            stats.round_trips += 1
            if time.monotonic() >= end:
                break
            await asyncio.sleep(min(random.uniform(1, 3), max(end - time.monotonic(), 0)))
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), ECHO_TIMEOUT)
        if rest:
            stats.wrong += 1
        else:
            stats.served += 1
        writer.close()
    except asyncio.TimeoutError:
        stats.hung += 1
        reset(writer)
    except asyncio.IncompleteReadError:
        stats.closed_early += 1
        writer.transport.abort()
    except (ConnectionError, OSError) as error:
        stats.error(type(error).__name__)
        writer.transport.abort()


async def worker(index, host, port, stats, start_at, deadline):
    await asyncio.sleep(max(start_at - time.monotonic(), 0))
    while time.monotonic() < deadline:
        await session(host, port, stats, deadline)


def status_json(url):
    with urllib.request.urlopen(url + "/status.json", timeout=5) as r:
        return json.load(r)


def sample(pid, url, label):
    status = status_json(url)
    live = sum(s["sessionsCurrent"] for s in status["services"])
    containers = sum(d["containers"] for d in status["daemons"])
    point = {"label": label, "rss_kib": rss_kib(pid), "fds": fd_count(pid), "sessions": live, "slots": containers}
    log(f"{label}: RSS {point['rss_kib'] / 1024:.1f} MiB, {point['fds']} fds, {live} live sessions, {containers} slots")
    return point


async def sampler(pid, url, samples, marks):
    """Takes the marked samples at their times (monotonic), off the loop's thread."""
    for when, label in marks:
        await asyncio.sleep(max(when - time.monotonic(), 0))
        samples.append(await asyncio.to_thread(sample, pid, url, label))


def wait_lines(process, path, timeout):
    """Waits for the listen and status lines on ganger's stdout file."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if process.poll() is not None:
            raise SystemExit(f"soak: ganger exited ({process.returncode}) before listening")
        text = open(path).read()
        listen = re.search(r"^ganger: service echo listening on (\S+)$", text, re.M)
        status = re.search(r"^ganger: status on (http://\S+?)/?$", text, re.M)
        if listen and status:
            return listen.group(1), status.group(1)
        time.sleep(0.05)
    raise SystemExit("soak: no listen line within 60 s")


def echo_once(host, port):
    with socket.create_connection((host, port), timeout=30) as s:
        s.settimeout(60)
        s.sendall(b"warm up\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    if data != b"warm up\n":
        raise SystemExit(f"soak: the first session echoed {data!r}")


def settle(pid, url, instance, timeout):
    """Waits until no session is live, no slot is counted and no container of the instance exists."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        status = status_json(url)
        live = sum(s["sessionsCurrent"] for s in status["services"])
        slots = sum(d["containers"] for d in status["daemons"])
        if live == 0 and slots == 0 and not instance_containers(instance):
            return True
        time.sleep(0.5)
    return False


def idle_fds(pid):
    """The descriptors besides the Docker connections once the count holds still (three reads
    200 ms apart, at most 5 s)."""
    last, same = -1, 0
    until = time.monotonic() + 5
    while time.monotonic() < until and same < 2:
        now = fds_besides_docker(pid)
        same = same + 1 if now == last else 0
        last = now
        time.sleep(0.2)
    return last


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"soak: {BIN} missing (make release, or GANGER_BIN=...)")
    if SECONDS < 30 or SESSIONS < 1 or not 0 <= RESET_SHARE <= 1:
        raise SystemExit("soak: SOAK_SECONDS >= 30, SOAK_SESSIONS >= 1, 0 <= SOAK_RESET_SHARE <= 1")
    instance = f"soak-{os.getpid()}-{random.randrange(1 << 30):x}"
    work = tempfile.mkdtemp(prefix="ganger-soak-")
    config = os.path.join(work, "ganger.yml")
    with open(config, "w") as f:
        f.write(f"""instance: {instance}
daemons:
  - url: unix:///var/run/docker.sock
    max_containers: {SESSIONS + 32}
services:
  - name: echo
    listen: 127.0.0.1:0
    image: {IMAGE}
    port: 12345
    pull: never
    queue: {{max: {SESSIONS * 2}, timeout: {QUEUE_TIMEOUT}s}}
    ready: {{timeout: {READY_TIMEOUT}s}}
    per_source: {{rate: 0}}
    accept: {{rate: 0}}
status: {{listen: 127.0.0.1:0}}
docker_timeout: 60s
shutdown_grace: 5s
log: {{level: notice, format: text}}
""")
    stdout_path = os.path.join(work, "stdout")
    stderr_path = os.path.join(work, "stderr")
    process = subprocess.Popen([BIN, "run", "-c", config], stdout=open(stdout_path, "w"), stderr=open(stderr_path, "w"))
    figures = {"seconds": SECONDS, "sessions_target": SESSIONS, "reset_share": RESET_SHARE, "instance": instance}
    failures = []
    exit_code = None
    try:
        address, url = wait_lines(process, stdout_path, 60)
        host, port = address.rsplit(":", 1)
        port = int(port)
        echo_once(host, port)
        if not settle(process.pid, url, instance, 30):
            failures.append("the first session's container was not removed within 30 s")
        samples = [sample(process.pid, url, "idle start")]
        samples[0]["idle_fds"] = idle_fds(process.pid)
        stats = Stats()
        start = time.monotonic()
        deadline = start + SECONDS
        ramp = min(60.0, SECONDS / 4)
        marks = [(start + ramp + 5, "after the ramp"), (start + SECONDS / 2, "middle"), (deadline - 1, "end of load")]

        async def load():
            workers = [worker(i, host, port, stats, start + ramp * i / SESSIONS, deadline) for i in range(SESSIONS)]
            progress = [asyncio.create_task(sampler(process.pid, url, samples, marks))]
            # Bounded: a session's own waits are bounded; this is the backstop.
            await asyncio.wait_for(asyncio.gather(*workers), SECONDS + FIRST_ECHO_TIMEOUT + 120)
            await progress[0]

        asyncio.run(load())
        log(f"load over after {time.monotonic() - start:.0f} s; waiting for the containers to go")
        if not settle(process.pid, url, instance, 120):
            failures.append("sessions, slots or containers still there 120 s after the load")
        figures["end_reasons"] = status_json(url)["services"][0]["endReasons"]
        idle = sample(process.pid, url, "idle end")
        idle["idle_fds"] = idle_fds(process.pid)
        samples.append(idle)
        figures.update({
            "served": stats.served, "round_trips": stats.round_trips, "resets": stats.resets,
            "closed_early": stats.closed_early, "wrong": stats.wrong, "hung": stats.hung,
            "connect_failed": stats.connect_failed, "errors": stats.errors, "samples": samples,
            "peak_slots": max(s["slots"] for s in samples),
        })
        by = {s["label"]: s for s in samples}
        plateau = by["after the ramp"]["rss_kib"]
        growth = by["end of load"]["rss_kib"] - plateau
        allowed = max(RSS_TOLERANCE_KIB, plateau * RSS_TOLERANCE_SHARE)
        figures["rss_growth_kib"] = growth
        if growth > allowed:
            failures.append(f"RSS grew {growth} KiB from after the ramp to the end of the load (allowed {allowed:.0f})")
        fd_drift = by["idle end"]["idle_fds"] - by["idle start"]["idle_fds"]
        figures["fd_drift"] = fd_drift
        if abs(fd_drift) > FD_TOLERANCE:
            failures.append(f"descriptors besides Docker's, idle: {by['idle start']['idle_fds']} at the start, "
                            f"{by['idle end']['idle_fds']} at the end")
        if stats.wrong or stats.hung:
            failures.append(f"{stats.wrong} sessions with wrong bytes, {stats.hung} hung")
        if stats.served == 0:
            failures.append("no session served")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                exit_code = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                exit_code = process.wait(10)
                failures.append("ganger did not exit within 60 s of SIGTERM")
        else:
            exit_code = process.returncode
        left = instance_containers(instance)
        leases = docker("ps", "-aq", "--filter", f"label=ganger.lease={instance}").stdout.split()
        figures["containers_left"] = len(left)
        figures["ganger_exit"] = exit_code
        if left or leases:
            docker("rm", "-f", "-v", *(left + leases))
        if left:
            failures.append(f"{len(left)} containers of the instance left after ganger's exit")
        if exit_code != 0:
            failures.append(f"ganger exited with {exit_code}")
        figures["failures"] = failures
        if failures:
            sys.stderr.write(open(stderr_path).read()[-4000:])
        subprocess.run(["rm", "-rf", work])
    report(figures)
    if JSON_OUT:
        with open(JSON_OUT, "w") as f:
            json.dump(figures, f, indent=2, sort_keys=True)
    sys.exit(1 if figures["failures"] else 0)


def report(f):
    print(f"soak {f['seconds']} s, {f['sessions_target']} concurrent sessions targeted, {f['reset_share']:.0%} resetting")
    if "served" in f:
        print(f"  sessions served: {f['served']} ({f['round_trips']} echo round trips); peak slots {f['peak_slots']}")
        print(f"  resets: " + ", ".join(f"{k} {v}" for k, v in f["resets"].items()))
        print(f"  failures: wrong bytes {f['wrong']}, hung {f['hung']}; clean early closes {f['closed_early']}, "
              f"connect failed {f['connect_failed']}, errors {f['errors'] or 0}")
        print("  Ganger's end reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(f["end_reasons"].items())))
        for s in f["samples"]:
            print(f"  {s['label']:>15}: RSS {s['rss_kib'] / 1024:7.1f} MiB  fds {s['fds']:5}  live sessions {s['sessions']:4}")
        idle = [s for s in f["samples"] if "idle_fds" in s]
        print(f"  RSS growth on the plateau: {f['rss_growth_kib'] / 1024:.1f} MiB; descriptors besides Docker's, idle: "
              + " -> ".join(str(s["idle_fds"]) for s in idle) + f" (drift {f['fd_drift']})")
    print(f"  containers left: {f['containers_left']}; ganger exit: {f['ganger_exit']}")
    print("  " + ("FAIL: " + "; ".join(f["failures"]) if f["failures"] else "OK"))


if __name__ == "__main__":
    main()
