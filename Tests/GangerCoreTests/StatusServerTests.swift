import EventLoop
import FoundationEssentials
import Glibc
import Testing
@testable import GangerCore
import TestSupport

/// A StatusServer on a loop thread of its own, serving whatever `snapshot` holds.
private final class RunningStatus: Sendable {
    let loop: ReactorThread
    let address: SocketAddress
    let snapshot: LoopBox<StatusSnapshot>
    private let server: LoopBox<StatusServer?>

    var url: String { "http://\(address)" }

    init(_ initial: StatusSnapshot = .sample()) async throws {
        loop = try ReactorThread()
        let snapshot = LoopBox(initial)
        let server = LoopBox<StatusServer?>(nil)
        self.snapshot = snapshot
        self.server = server
        address = try await loop.run { reactor in
            server.value = try StatusServer(reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0)) {
                snapshot.value
            }
            return server.value!.address
        }
    }

    func get(_ path: String) async throws -> StatusClient.Reply {
        let url = url
        return try await onThread { try StatusClient.get(url, path: path) }
    }

    func stop() async throws {
        let server = server
        try await loop.run { _ in
            server.value?.close()
            server.value = nil
        }
        loop.stop()
    }
}

private func python(_ script: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let path = packageRoot() + "/scripts/" + script
    return try await onThread { try runProcess("python3", [path] + arguments) }
}

/// One sample as the reference parser reported it.
private struct ParsedSample: Decodable {
    var family: String
    var type: String
    var name: String
    var labels: [String: String]
    var value: Double
}

@Suite struct StatusRoutingTests {
    private func route(_ target: String, _ snapshot: StatusSnapshot = .sample()) -> HTTPServerResponse {
        StatusServer.route(HTTPRequestHead(method: .get, target: target), snapshot: { snapshot })
    }

    @Test func unknownPath_404() {
        #expect(route("/nope").status == 404)
        #expect(route("/metrics/x").status == 404)
    }

    @Test func healthz_200WhileServing_503WhileDrainingOrWithNoDaemonUp() {
        var snapshot = StatusSnapshot.sample()
        #expect(route("/healthz", snapshot).status == 200)
        #expect(route("/healthz", snapshot).body == Array("ok\n".utf8))
        snapshot.draining = true
        #expect(route("/healthz", snapshot).status == 503)
        snapshot.draining = false
        for i in snapshot.daemons.indices { snapshot.daemons[i].up = false }
        #expect(route("/healthz", snapshot).status == 503)
        snapshot.daemons = []
        #expect(route("/healthz", snapshot).status == 503)
    }

    @Test func healthz_503WhenTheOnlyAnsweringDaemonIsDraining() {
        var snapshot = StatusSnapshot.sample()
        snapshot.daemons = snapshot.daemons.filter { $0.state != .up }
        #expect(snapshot.daemons.contains { $0.up && $0.state == .draining })
        #expect(route("/healthz", snapshot).status == 503)
    }

    @Test func drainingDaemon_showsDrainOnThePage_inTheTable_andInMetrics() {
        let page = String(decoding: route("/").body, as: UTF8.self)
        #expect(page.contains("<tr class=\"draining\"><td class=\"name\">tcp://10.0.0.13:2376</td><td><span class=\"badge draining\""))
        #expect(page.contains(">DRAIN</span>"))
        var down = StatusSnapshot.sample()
        down.daemons[2].up = false
        #expect(String(decoding: route("/", down).body, as: UTF8.self).contains(">DRAIN</span> <span class=\"badge down\">DOWN</span>"))
        let table = StatusTable.render(.sample())
        #expect(table.split(separator: "\n").contains { $0.contains("tcp://10.0.0.13:2376") && $0.contains("drain") })
        let metrics = Metrics.render(.sample())
        #expect(metrics.contains("ganger_daemon_draining{daemon=\"tcp://10.0.0.13:2376\"} 1\n"))
        #expect(metrics.contains("ganger_daemon_draining{daemon=\"unix:///var/run/docker.sock\"} 0\n"))
        #expect(metrics.contains("ganger_daemon_up{daemon=\"tcp://10.0.0.13:2376\"} 1\n"))
    }

    /// The relays' conduits: on the page's header line, in `ganger status`, in /metrics, through
    /// JSON; an instance older than the field has none and shows none.
    @Test func relayConduits_showOnThePage_inMetrics_andRoundTripThroughJSON() throws {
        let page = String(decoding: route("/").body, as: UTF8.self)
        #expect(page.contains("relay pipes 3 lent, 12 idle · large buffers 1 of 8 lent"))
        let metrics = Metrics.render(.sample())
        #expect(metrics.contains("ganger_relay_pipes{state=\"lent\"} 3\n"))
        #expect(metrics.contains("ganger_relay_large_buffers{state=\"free\"} 7\n"))
        #expect(metrics.contains("ganger_relay_large_buffer_lends_total 57\n"))
        #expect(StatusTable.render(.sample()).contains("\nrelay pipes 3 lent, 12 idle  large buffers 1 of 8 lent\n"))
        let json = try JSONEncoder().encode(StatusSnapshot.sample())
        #expect(try JSONDecoder().decode(StatusSnapshot.self, from: json).relay == StatusSnapshot.sample().relay)
        var older = StatusSnapshot.sample()
        older.relay = nil
        #expect(!String(decoding: route("/", older).body, as: UTF8.self).contains("relay pipes"))
        #expect(!Metrics.render(older).contains("ganger_relay_"))
        #expect(!StatusTable.render(older).contains("relay pipes"))
    }

    @Test func degradedDaemon_showsOnThePage_inTheTable_inMetrics_andRoundTripsThroughJSON() throws {
        var snapshot = StatusSnapshot.sample()
        snapshot.daemons[0].degraded = true
        let page = String(decoding: route("/", snapshot).body, as: UTF8.self)
        #expect(page.contains(">UP</span> <span class=\"badge down\" title=\"a launch's call got no answer in time\">DEGRADED</span>"))
        #expect(!String(decoding: route("/").body, as: UTF8.self).contains("DEGRADED"))
        let table = StatusTable.render(snapshot)
        #expect(table.split(separator: "\n").contains { $0.contains("unix:///var/run/docker.sock") && $0.contains("up, degraded") })
        let metrics = Metrics.render(snapshot)
        #expect(metrics.contains("ganger_daemon_degraded{daemon=\"unix:///var/run/docker.sock\"} 1\n"))
        #expect(metrics.contains("ganger_daemon_degraded{daemon=\"tcp://10.0.0.12:2375\"} 0\n"))
        let decoded = try JSONDecoder().decode(StatusSnapshot.self, from: JSONEncoder().encode(snapshot))
        #expect(decoded.daemons.map(\.degraded) == [true, false, false])
        // An older Ganger's document has no `degraded`: read as not degraded.
        let old = #"{"url":"tcp://a:1","up":true,"sinceUnix":1,"containers":0,"maxContainers":2}"#
        #expect(try JSONDecoder().decode(StatusSnapshot.Daemon.self, from: Data(old.utf8)).degraded == false)
    }

    @Test func statusJSON_withoutState_fromAnOlderGanger_isReadByUp() throws {
        let old = #"[{"url":"tcp://a:1","up":true,"sinceUnix":1,"containers":0,"maxContainers":2},"#
            + #"{"url":"tcp://b:1","up":false,"sinceUnix":1,"containers":0,"maxContainers":2}]"#
        let daemons = try JSONDecoder().decode([StatusSnapshot.Daemon].self, from: Data(old.utf8))
        #expect(daemons.map(\.state) == [.up, .down])
    }

    @Test func contentTypes() {
        #expect(route("/").headers["content-type"] == "text/html; charset=utf-8")
        #expect(route("/status.json").headers["content-type"] == "application/json")
        #expect(route("/metrics").headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(route("/metrics").headers["cache-control"] == "no-store")
    }

    @Test func page_refreshParameter_isClampedAndOptional() {
        let page = { String(decoding: self.route($0).body, as: UTF8.self) }
        #expect(!page("/").contains("http-equiv=\"refresh\""))
        #expect(page("/?refresh=5").contains("<meta http-equiv=\"refresh\" content=\"5\">"))
        #expect(page("/?refresh=0").contains("content=\"1\""))
        #expect(page("/?refresh=999999").contains("content=\"3600\""))
        #expect(!page("/?refresh=abc").contains("http-equiv=\"refresh\""))
    }

    @Test func page_escapesEverythingFromTheSnapshot() {
        var snapshot = StatusSnapshot.sample()
        snapshot.instance = "<script>alert('x')</script>"
        snapshot.recentSessions[0].reason = "\"><img src=x onerror=alert(1)>"
        let page = String(decoding: route("/", snapshot).body, as: UTF8.self)
        #expect(!page.contains("<script>"))
        #expect(!page.contains("<img"))
        #expect(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        #expect(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
        #expect(page.contains("hive &lt;sql&gt; &amp; &quot;friends&quot;"))
    }

    @Test func metrics_labelValuesAreEscaped() {
        #expect(Metrics.escapeLabel("a\\b\"c\nd") == "a\\\\b\\\"c\\nd")
        let text = Metrics.render(.sample())
        #expect(text.contains("ganger_sessions_total{service=\"hive <sql> & \\\"friends\\\"\"} 58\n"))
        #expect(text.contains("reason=\"ready timeout: no answer on port 10000\\nafter 50 attempts\"} 3\n"))
    }

    @Test func tableForTheTerminal_showsEveryPart_andNoRawControlCharacters() {
        let text = StatusTable.render(.sample())
        for expected in ["SERVICES", "DAEMONS", "RECENT SESSIONS", "ganger-prod", "12345", "tcp://10.0.0.12:2375", "DOWN",
                         "13/16", "0/∞", "ready timeout: no answer on port 10000\\nafter 50 attempts"] {
            #expect(text.contains(expected), "missing \(expected)")
        }
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
    }
}

@Suite struct StatusServerTests {
    @Test func metrics_parseWithThePrometheusReferenceParser() async throws {
        let status = try await RunningStatus()
        let reply = try await status.get("/metrics")
        try await status.stop()
        #expect(reply.status == 200)
        let file = try temporaryFile("metrics.txt", reply.body)
        let (code, output) = try await python("check-metrics.py", [file])
        try #require(code == 0, "prometheus_client rejected /metrics: \(output)")
        let samples = try JSONDecoder().decode([ParsedSample].self, from: Data(output.utf8))
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        let families = Dictionary(samples.map { ($0.family, $0.type) }, uniquingKeysWith: { a, _ in a })
        #expect(families["ganger_sessions"] == "counter")
        #expect(families["ganger_sessions_current"] == "gauge")
        #expect(families["ganger_queue_current"] == "gauge")
        #expect(families["ganger_queue_timeouts"] == "counter")
        #expect(families["ganger_refused"] == "counter")
        #expect(families["ganger_bytes"] == "counter")
        #expect(families["ganger_session_ttfb_seconds"] == "histogram")
        #expect(families["ganger_daemon_up"] == "gauge")
        #expect(families["ganger_daemon_containers"] == "gauge")
        #expect(families["ganger_daemon_draining"] == "gauge")
        #expect(families["ganger_session_ends"] == "counter")
        #expect(families["ganger_holders_ready"] == "gauge")
        #expect(families["ganger_holders_per_daemon"] == "gauge")
        #expect(families["ganger_holder_sessions"] == "counter")
        #expect(families["ganger_holders_removed"] == "counter")
        #expect(families["ganger_relay_pipes"] == "gauge")
        #expect(families["ganger_relay_large_buffers"] == "gauge")
        #expect(families["ganger_relay_large_buffer_lends"] == "counter")

        let hive = "hive <sql> & \"friends\""
        #expect(value("ganger_sessions_total", ["service": "echo"]) == 12_345)
        #expect(value("ganger_sessions_total", ["service": hive]) == 58)
        #expect(value("ganger_sessions_current", ["service": "echo"]) == 7)
        #expect(value("ganger_queue_current", ["service": "echo"]) == 3)
        #expect(value("ganger_queue_timeouts_total", ["service": "echo"]) == 17)
        #expect(value("ganger_refused_total", ["service": "echo", "reason": "per_source"]) == 11)
        #expect(value("ganger_bytes_total", ["service": "echo", "direction": "out"]) == 123_456_789_012)
        #expect(value("ganger_session_ttfb_seconds_bucket", ["service": "echo", "le": "0.005"]) == 7_900)
        #expect(value("ganger_session_ttfb_seconds_bucket", ["service": "echo", "le": "+Inf"]) == 12_338)
        #expect(value("ganger_session_ttfb_seconds_count", ["service": "echo"]) == 12_338)
        #expect(value("ganger_session_ttfb_seconds_sum", ["service": "echo"]) == 1_234.5)
        #expect(value("ganger_daemon_up", ["daemon": "tcp://10.0.0.12:2375"]) == 0)
        #expect(value("ganger_daemon_draining", ["daemon": "tcp://10.0.0.13:2376"]) == 1)
        #expect(value("ganger_daemon_containers", ["daemon": "unix:///var/run/docker.sock"]) == 13)
        #expect(value("ganger_session_ends_total",
                      ["service": hive, "reason": "ready timeout: no answer on port 10000\nafter 50 attempts"]) == 3)
        #expect(value("ganger_holders_ready", ["service": "echo"]) == 2)
        #expect(value("ganger_holders_per_daemon", ["service": "echo"]) == 3)
        #expect(value("ganger_holder_sessions_total", ["service": "echo", "path": "holder"]) == 1_812)
        #expect(value("ganger_holder_sessions_total", ["service": "echo", "path": "normal"]) == 288)
        #expect(value("ganger_holders_removed_total", ["service": "echo", "reason": "retired"]) == 1_795)
        #expect(value("ganger_holders_removed_total", ["service": "echo", "reason": "discarded"]) == 6)
        // A service without holders has no holder samples at all (not zeros).
        #expect(!samples.contains { $0.family.hasPrefix("ganger_holder") && $0.labels["service"] == hive })
        #expect(value("ganger_session_ends_total", ["service": "echo", "reason":
            "create failed: Conflict. The container name \"/ganger-echo-1\" is already in use"]) == 3)
    }

    @Test func statusJSON_decodesBackToTheSnapshot_andMatchesTheSchema() async throws {
        let status = try await RunningStatus()
        let reply = try await status.get("/status.json")
        try await status.stop()
        #expect(reply.status == 200)
        #expect(try JSONDecoder().decode(StatusSnapshot.self, from: Data(reply.body)) == .sample())

        let schema = packageRoot() + "/docs/status.schema.json"
        let document = try temporaryFile("status.json", reply.body)
        let (code, output) = try await python("check-status-json.py", [schema, document])
        #expect(code == 0, "jsonschema: \(output)")
        #expect(output.contains("ok"))

        // The validator does reject: a session without its reason, a negative count.
        var text = String(decoding: reply.body, as: UTF8.self)
        text = text.replacing("\"reason\":\"client closed\"", with: "\"reasonX\":\"client closed\"")
        text = text.replacing("\"sessionsCurrent\":7", with: "\"sessionsCurrent\":-7")
        let broken = try temporaryFile("broken.json", Array(text.utf8))
        let (brokenCode, brokenOutput) = try await python("check-status-json.py", [schema, broken])
        #expect(brokenCode == 1)
        #expect(brokenOutput.contains("'reason' is a required property"))
        #expect(brokenOutput.contains("-7 is less than the minimum of 0"))

        // Holder fields come all together or not at all.
        let partial = String(decoding: reply.body, as: UTF8.self).replacing("\"holdersRetired\":1795,", with: "")
        let partialFile = try temporaryFile("partial.json", Array(partial.utf8))
        let (partialCode, partialOutput) = try await python("check-status-json.py", [schema, partialFile])
        #expect(partialCode == 1)
        #expect(partialOutput.contains("'holdersRetired' is a dependency of 'holdersReady'"), "\(partialOutput)")
    }

    @Test func page_inHeadlessChromium_showsTheSnapshotsNumbers() async throws {
        let status = try await RunningStatus()
        let artifacts = packageRoot() + "/.build/artifacts"
        mkdir(artifacts, 0o755)
        let profile = try temporaryFile("keep", []).dropLast(5)
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                      "--user-data-dir=\(profile)chromium", "--hide-scrollbars"]
        let shot = artifacts + "/status.png"
        let phone = artifacts + "/status-phone.png"
        unlink(shot)
        unlink(phone)
        let url = status.url + "/"
        let (dumpCode, dom) = try await onThread { try runProcess("chromium", common + ["--dump-dom", url]) }
        let (shotCode, shotLog) = try await onThread {
            try runProcess("chromium", common + ["--window-size=1400,1800", "--screenshot=\(shot)", url])
        }
        let (phoneCode, _) = try await onThread {
            try runProcess("chromium", common + ["--window-size=390,844", "--screenshot=\(phone)", url])
        }
        try await status.stop()
        #expect(dumpCode == 0, "chromium --dump-dom: \(dom.suffix(2000))")
        #expect(shotCode == 0 && phoneCode == 0, "chromium --screenshot: \(shotLog.suffix(2000))")
        for expected in ["ganger-prod", "12345", "987654321 bytes", "115.0 GiB", "412 ms", "3.1 ms", "1.93 s",
                         "unix:///var/run/docker.sock", "13/16", "Connection refused (errno 111)", "DRAIN",
                         "hive &lt;sql&gt; &amp; \"friends\"", "&lt;no such image&gt;", "203.0.113.7:51234",
                         "Network holders", "86.3 %"] {
            #expect(dom.contains(expected), "the rendered page lacks \(expected)")
        }
        #expect(!dom.contains("<no such image>"))
        let png = readFile(shot) ?? []
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "no screenshot at \(shot)")
        #expect((readFile(phone) ?? []).starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    @Test func headRequest_andUnknownPath_overTheWire() async throws {
        let status = try await RunningStatus()
        #expect(try await status.get("/nope").status == 404)
        #expect(try await status.get("/healthz").status == 200)
        try await status.loop.run { _ in }
        try await status.stop()
    }

    /// Eight idle connections from 127.0.0.1 (the default cap) hold their places; a ninth from the
    /// same address is closed at once, while /healthz from 127.0.0.2 is still answered.
    @Test func ninthConnectionFromOneAddress_closedAtOnce_anotherAddressServed() async throws {
        let status = try await RunningStatus()
        let address = status.address
        let held = try await onThread { () throws -> [Int32] in
            try (0..<8).map { _ in try Self.rawConnect(address, from: nil) }
        }
        defer { for fd in held { close(fd) } }
        // Each held connection is answered: the server has them all.
        let answers = try await onThread { try held.map { try Self.rawGet($0) } }
        #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 200") }, "\(answers)")
        let ninth = try await onThread { () throws -> String in
            let fd = try Self.rawConnect(address, from: nil)
            defer { close(fd) }
            return try Self.rawGet(fd)
        }
        #expect(ninth == "", "the ninth connection from 127.0.0.1 was answered: \(ninth.prefix(40))")
        let other = try await onThread { () throws -> String in
            let fd = try Self.rawConnect(address, from: "127.0.0.2")
            defer { close(fd) }
            return try Self.rawGet(fd)
        }
        #expect(other.hasPrefix("HTTP/1.1 200"))
        try await status.stop()
    }

    /// A blocking connected socket from `source` (an IP of this host) when given.
    private static func rawConnect(_ address: SocketAddress, from source: String?) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StartupError(description: "socket") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func sockaddrIn(_ host: String, _ port: UInt16) -> sockaddr_in {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &sa.sin_addr)
            return sa
        }
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        if let source {
            var local = sockaddrIn(source, 0)
            let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
            guard bound == 0 else { close(fd); throw StartupError(description: "bind \(source)") }
        }
        var remote = sockaddrIn(address.host, address.port ?? 0)
        let rc = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }
        guard rc == 0 else { close(fd); throw StartupError(description: "connect \(address)") }
        return fd
    }

    /// `GET /healthz` on `fd`; what came back before the answer's end or EOF ("" for none).
    private static func rawGet(_ fd: Int32) throws -> String {
        let request = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received: [UInt8] = []
        while !String(decoding: received, as: UTF8.self).hasSuffix("ok\n") {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func gangerStatus_printsTables_healthExitCodes_andExit2WhenUnreachable() async throws {
        let ganger = buildProductsDirectory() + "/ganger"
        let status = try await RunningStatus()
        let url = status.url
        let (code, output) = try await onThread { try runProcess(ganger, ["status", "--url", url]) }
        #expect(code == 0, "\(output)")
        for expected in ["SERVICES", "echo", "12345", "DAEMONS", "DOWN", "RECENT SESSIONS", "203.0.113.7:51234"] {
            #expect(output.contains(expected), "ganger status lacks \(expected)")
        }
        #expect(try await onThread { try runProcess(ganger, ["status", "--health", "--url", url]) }.status == 0)
        try await status.loop.run { _ in status.snapshot.value.draining = true }
        #expect(try await onThread { try runProcess(ganger, ["status", "--health", "--url", url]) }.status == 1)
        try await status.stop()

        // The listener is gone: nothing answers on that port now.
        let (downCode, downOutput) = try await onThread { try runProcess(ganger, ["status", "--url", url, "--timeout", "2"]) }
        #expect(downCode == 2)
        #expect(downOutput.contains("cannot reach \(url)/status.json"), "\(downOutput)")
        #expect(try await onThread { try runProcess(ganger, ["status", "--health", "--url", url]) }.status == 1)
        let (badCode, badOutput) = try await onThread { try runProcess(ganger, ["status", "--url", "http://127.0.0.1:notaport"]) }
        #expect(badCode == 1, "\(badOutput)")
    }
}
