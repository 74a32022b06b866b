import Glibc
import Testing
import TestSupport

/// A `ganger run` whose only daemon is a `FaultProxy` in front of the default dockerd, with what
/// the chaos tests judge it by (issue 16): once things settle, (1) the containers carrying the
/// instance's label are exactly those Ganger knows (its sessions and ready pool containers in
/// /status.json), (2) its descriptors besides its Docker connections (one per proxied connection)
/// are back to the baseline taken after a first session, (3) each daemon's slot count equals its
/// live containers.
struct ProxiedGanger: Sendable {
    let ganger: GangerProcess
    let proxy: FaultProxy
    let instance: String
    /// The first service's listen address.
    let address: String
    /// Descriptors besides the proxied Docker connections after the first session settled.
    let baselineFDs: Int

    /// Waits (bounded) until the three checks hold; throws naming what still differs.
    func checkSettled(timeout: Duration = .seconds(30)) throws {
        var problems: [String] = []
        let settled = try poll(timeout: timeout, interval: .milliseconds(250)) {
            problems = try settledProblems()
            return problems.isEmpty
        }
        guard settled else {
            throw HarnessError("not settled within \(timeout): \(problems.joined(separator: "; "))\n--- proxy calls ---\n\(proxy.history)")
        }
    }

    /// What differs from a settled state now (empty when settled). Descriptors are counted first,
    /// before the status request of this round opens one.
    func settledProblems() throws -> [String] {
        let descriptors = try descriptorsBesidesDocker(ganger, proxy)
        let containers = try DockerCLI.containers(instance: instance)
        let status = try ganger.status()
        let known = status.services.reduce(0) { $0 + $1.sessionsCurrent + $1.poolReady }
        var problems: [String] = []
        if containers.count != known {
            problems.append("\(containers.count) containers carry ganger.instance=\(instance), Ganger knows \(known) (sessions + ready pool)")
        }
        for daemon in status.daemons where daemon.containers != containers.count {
            problems.append("daemon \(daemon.url) counts \(daemon.containers) slots, \(containers.count) containers live")
        }
        if descriptors != baselineFDs {
            problems.append("\(descriptors) descriptors besides \(proxy.connections) Docker connections, baseline \(baselineFDs)")
        }
        return problems
    }
}

/// Open descriptors of `ganger` (/proc/PID/fd) minus its connections through `proxy`, once the
/// figure holds still for three reads 100 ms apart (bounded: the last read after 5 s).
func descriptorsBesidesDocker(_ ganger: GangerProcess, _ proxy: FaultProxy) throws -> Int {
    var last = -1
    var same = 0
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        let now = try descriptorCount(ganger.pid) - proxy.connections
        same = now == last ? same + 1 : 0
        last = now
        if same >= 2 { break }
        usleep(100_000)
    }
    return last
}

/// Entries in /proc/PID/fd.
func descriptorCount(_ pid: pid_t) throws -> Int {
    guard let directory = opendir("/proc/\(pid)/fd") else {
        throw HarnessError("opendir /proc/\(pid)/fd: \(String(cString: strerror(errno)))")
    }
    defer { closedir(directory) }
    var count = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { count += 1 }
    }
    return count
}

/// Runs `body` against a ganger on a fault proxy (`services`, `maxContainers` and `extra` keys
/// as in `gangerConfig`). The proxy starts with `startRules` (counted from ganger's first call,
/// its startup included); after the listeners are up and one echo session went through and
/// settled (the descriptor baseline), the script becomes `rules`. After `body`, the script is
/// cleared and the proxy restored, and the three checks must hold (unless ganger has exited);
/// teardown as `withGangerScenario`, then the proxy stops.
func withProxiedGanger(_ test: String, services: [ServiceYAML] = [.echo()], maxContainers: Int = 16, dockerTimeout: String = "30s",
                       extra: [String] = [], startRules: [FaultProxy.Rule] = [], rules: [FaultProxy.Rule],
                       _ body: (ProxiedGanger) async throws -> Void) async throws {
    let instance = uniqueInstance(test)
    let proxy = try FaultProxy(rules: startRules)
    defer { proxy.stop() }
    let yaml = gangerConfig(instance: instance, services: services, maxContainers: maxContainers,
                            daemonURL: proxy.url, dockerTimeout: dockerTimeout, extra: extra)
    try await withGangerScenario(instance: instance, yaml: yaml, services: services.map(\.name), prepare: {
        try DockerCLI.requireEnvironment()
        try ExtraDaemons.ensureDefaultBridge()
    }, sweep: { instance in
        proxy.setRules([])
        proxy.restore()
        _ = try DockerCLI.removeAll(instance: instance)
        return try DockerCLI.containers(instance: instance)
    }) { ganger, addresses in
        let address = try #require(addresses[services[0].name])
        let chaos = try await onThread { () throws -> ProxiedGanger in
            try echoSession(address, payload: Array("first session\n".utf8))
            _ = try waitForNoContainers(labels: ["ganger.instance=\(instance)"], timeout: .seconds(20))
            let baseline = try descriptorsBesidesDocker(ganger, proxy)
            return ProxiedGanger(ganger: ganger, proxy: proxy, instance: instance, address: address, baselineFDs: baseline)
        }
        proxy.setRules(rules)
        do {
            try await body(chaos)
        } catch {
            throw HarnessError("\(error)\n--- proxy calls ---\n\(proxy.history)")
        }
        proxy.setRules([])
        proxy.restore()
        if !ganger.hasExited { try await onThread { try chaos.checkSettled() } }
    }
}

/// How one client's session went under chaos.
enum ChaosOutcome: Equatable, CustomStringConvertible {
    /// Its payload came back whole, then EOF.
    case echoed
    /// Closed (EOF, reset, or refused while sending) after `bytes` of its payload came back.
    case closed(bytes: Int)
    /// Still open at the deadline: what must never happen.
    case hung(bytes: Int)
    /// Bytes came back that it never sent.
    case corrupt

    var description: String {
        switch self {
        case .echoed: "echoed"
        case let .closed(bytes): "closed after \(bytes) bytes"
        case let .hung(bytes): "HUNG after \(bytes) bytes"
        case .corrupt: "CORRUPT"
        }
    }

    var isClean: Bool {
        switch self {
        case .echoed, .closed: true
        case .hung, .corrupt: false
        }
    }
}

/// One echo client: connects, sends `payload`, half-closes, reads to the end within `timeout`.
func chaosClient(_ address: String, payload: [UInt8], timeout: Duration = .seconds(45)) -> ChaosOutcome {
    guard let client = try? Client(address) else { return .closed(bytes: 0) }
    defer { client.close() }
    do {
        try client.sendAll(payload, timeout: timeout)
        try client.shutdownWrite()
    } catch {
        // Ganger closed first (a refused or failed launch): what came back still counts.
        let (bytes, _) = (try? client.receiveAll(timeout: .seconds(5))) ?? ([], .eof)
        return bytes == Array(payload.prefix(bytes.count)) ? .closed(bytes: bytes.count) : .corrupt
    }
    guard let (bytes, end) = try? client.receiveAll(timeout: timeout) else { return .closed(bytes: 0) }
    guard bytes == Array(payload.prefix(bytes.count)) else { return .corrupt }
    switch end {
    case .timedOut: return .hung(bytes: bytes.count)
    case .eof where bytes.count == payload.count: return .echoed
    case .eof, .reset: return .closed(bytes: bytes.count)
    }
}

/// `count` echo clients at once (each on a thread of its own), payloads of `size` random bytes.
func chaosClients(_ count: Int, _ address: String, size: Int = 4096, timeout: Duration = .seconds(45)) async throws -> [ChaosOutcome] {
    try await onThreads(count) { i in
        chaosClient(address, payload: Array("client \(i)\n".utf8) + randomBytes(size), timeout: timeout)
    }
}

/// Throws unless every outcome is clean (echoed or closed), naming the others.
func requireClean(_ outcomes: [ChaosOutcome], _ what: String) throws {
    let bad = outcomes.enumerated().filter { !$0.element.isClean }
    guard bad.isEmpty else {
        throw HarnessError("\(what): \(bad.map { "client \($0.offset): \($0.element)" }.joined(separator: ", "))")
    }
}
