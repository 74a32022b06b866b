import FoundationEssentials
import GangerCore
import Glibc
import TestSupport

/// What a running `ganger run` shows of itself: its status listener (read over HTTP with
/// GangerCore's own `StatusClient`), its pid and resident memory, and its config file (rewritten
/// for SIGHUP reloads). Blocking: call these on a thread of their own (`onThread`).
extension GangerProcess {
    /// `http://ADDR` from ganger's `ganger: status on http://ADDR/` stdout line (bounded wait).
    func statusURL(timeout: Duration = .seconds(10)) throws -> String {
        var url: String?
        _ = poll(timeout: timeout, interval: .milliseconds(20)) {
            for line in stdout.split(separator: "\n") where line.hasPrefix("ganger: status on http://") {
                var text = String(line.dropFirst("ganger: status on ".count))
                if text.hasSuffix("/") { text.removeLast() }
                url = text
            }
            return url != nil
        }
        guard let url else { throw HarnessError("ganger printed no `ganger: status on` line within \(timeout)\n\(log)") }
        return url
    }

    /// `GET path` on the status listener: HTTP status and body.
    func statusGet(_ path: String) throws -> (status: Int, body: String) {
        let url = try statusURL()
        do {
            let reply = try StatusClient.get(url, path: path, timeout: .seconds(5))
            return (reply.status, String(decoding: reply.body, as: UTF8.self))
        } catch {
            throw HarnessError("GET \(url)\(path): \(error)")
        }
    }

    /// `/status.json`, decoded.
    func status() throws -> StatusSnapshot {
        let (code, body) = try statusGet("/status.json")
        guard code == 200 else { throw HarnessError("/status.json answered \(code): \(body.prefix(300))") }
        do {
            return try JSONDecoder().decode(StatusSnapshot.self, from: Data(body.utf8))
        } catch {
            throw HarnessError("/status.json does not decode: \(error)\n\(body.prefix(2000))")
        }
    }

    /// What placement sees now, one line per daemon and service, for a failure message: why a
    /// client waits (a daemon down, at its cap, at its launch window) shows here.
    func placementSummary() -> String {
        guard let snapshot = try? status() else { return "(no status)" }
        let daemons = snapshot.daemons.map {
            "daemon \($0.url): \($0.state) containers \($0.containers)/\($0.maxContainers) launching \($0.launching)"
                + " window \($0.launchWindow.map(String.init) ?? "off") degraded \($0.degraded) error \($0.lastError ?? "-")"
        }
        let services = snapshot.services.map {
            "service \($0.name): current \($0.sessionsCurrent) queued \($0.queueCurrent) pool \($0.poolReady)/\($0.poolWarm)"
        }
        return (daemons + services).joined(separator: "\n")
    }

    /// Polls `/status.json` until `condition` holds (bounded); returns the last snapshot and
    /// whether it held.
    func waitForStatus(timeout: Duration, _ condition: (StatusSnapshot) -> Bool) throws -> (StatusSnapshot, Bool) {
        var last = try status()
        let ok = try poll(timeout: timeout, interval: .milliseconds(50)) {
            last = try status()
            return condition(last)
        }
        return (last, ok)
    }

    /// The ganger process's pid (the harness spawns the binary itself, no wrapper).
    var pid: pid_t { process.pid }

    /// VmRSS of the ganger process in KiB, from /proc/PID/status.
    func residentKiB() throws -> Int {
        let path = "/proc/\(pid)/status"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 16 << 10)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw HarnessError("read \(path): \(String(cString: strerror(errno)))") }
        for line in String(decoding: bytes[0..<n], as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmRSS:") {
            if let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) { return kib }
        }
        throw HarnessError("no VmRSS line in \(path)")
    }

    /// Replaces the config file's contents atomically (a new file renamed over it), as an
    /// operator's editor or configuration management would before a SIGHUP.
    func rewriteConfig(_ yaml: String) throws {
        let temporary = config.directory + "/next.yml"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HarnessError("open \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(yaml.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, config.path) == 0 else {
            unlink(temporary)
            throw HarnessError("rewrite \(config.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Waits (bounded) until ganger's stderr holds `count` occurrences of `text`.
    func waitForLog(_ text: String, count: Int = 1, timeout: Duration = .seconds(10)) -> Bool {
        poll(timeout: timeout, interval: .milliseconds(20)) { stderr.ranges(of: text).count >= count }
    }
}

/// A client that sends nothing and reads until the other side ends, bounded: what it got, how it
/// ended, and how long after its connect.
func silentClient(_ address: String, timeout: Duration = .seconds(20)) throws -> (client: String, bytes: [UInt8], end: Client.End, elapsed: Duration) {
    let start = ContinuousClock.now
    let client = try Client(address)
    let local = client.localAddress
    let (bytes, end) = try client.receiveAll(timeout: timeout)
    let elapsed = ContinuousClock.now - start
    client.close()
    return (local, bytes, end, elapsed)
}

/// The port of `HOST:PORT` text.
func port(of address: String) -> String {
    String(address[address.index(after: address.lastIndex(of: ":")!)...])
}

/// Lower-case hex of `bytes`, no separators.
func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
