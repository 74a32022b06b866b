import GangerCore
import Glibc
import Testing
import TestSupport

/// The status listener of a real `ganger run` after a known workload: /status.json, /metrics,
/// /healthz, and the HTML page as headless Chromium renders it (screenshot in
/// .build/artifacts/status-live.png).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StatusEndToEndTests {
    @Test func threeEchoSessions_statusJSONMetricsHealthzAndThePageShowTheirNumbers() async throws {
        let instance = uniqueInstance("status")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let sizes = [1000, 20_000, 300_000]
            let clients = try await onThread { () throws -> [String] in
                try sizes.enumerated().map { i, size in
                    let client = try Client(address)
                    let payload = Array(randomBytes(size))
                    try client.sendAll(payload)
                    try client.shutdownWrite()
                    let (back, end) = try client.receiveAll(timeout: .seconds(30))
                    guard back == payload, end == .eof else { throw HarnessError("session \(i): \(back.count) of \(size) bytes, \(end)") }
                    let local = client.localAddress
                    client.close()
                    return local
                }
            }
            let total = UInt64(sizes.reduce(0, +))
            let (snapshot, settled) = try await onThread {
                try ganger.waitForStatus(timeout: .seconds(10)) { $0.recentSessions.count == 3 && $0.services[0].sessionsCurrent == 0 }
            }
            #expect(settled, "recentSessions \(snapshot.recentSessions.count), sessionsCurrent \(snapshot.services[0].sessionsCurrent)")
            let service = try #require(snapshot.services.first)
            #expect(snapshot.instance == instance)
            #expect(service.name == "echo" && service.listen == address && service.image == "ganger-echo:latest")
            #expect(service.sessionsTotal == 3)
            #expect(service.bytesIn == total && service.bytesOut == total, "bytes in \(service.bytesIn) / out \(service.bytesOut), sent \(total)")
            #expect(service.ttfbCold.count == 3 && service.ttfbWarm.count == 0, "ttfb cold \(service.ttfbCold), warm \(service.ttfbWarm)")
            #expect(service.ttfbHistogram.count == 3)
            #expect(service.endReasons == ["client closed": 3])
            #expect(snapshot.recentSessions.map(\.reason) == ["client closed", "client closed", "client closed"])
            // Newest first, each with its own byte counts and client address.
            #expect(snapshot.recentSessions.map(\.client) == clients.reversed())
            #expect(snapshot.recentSessions.map(\.bytesIn) == sizes.reversed().map { UInt64($0) })
            #expect(snapshot.recentSessions.map(\.bytesOut) == sizes.reversed().map { UInt64($0) })
            #expect(snapshot.daemons.count == 1 && snapshot.daemons[0].up && snapshot.daemons[0].url == DockerCLI.daemonURL)

            let (metricsCode, metrics) = try await onThread { try ganger.statusGet("/metrics") }
            #expect(metricsCode == 200)
            for line in ["ganger_sessions_total{service=\"echo\"} 3",
                         "ganger_bytes_total{service=\"echo\",direction=\"in\"} \(total)",
                         "ganger_bytes_total{service=\"echo\",direction=\"out\"} \(total)",
                         "ganger_session_ttfb_seconds_count{service=\"echo\"} 3"] {
                #expect(metrics.split(separator: "\n").contains { $0 == line }, "/metrics lacks the line \(line)")
            }
            let (healthCode, health) = try await onThread { try ganger.statusGet("/healthz") }
            #expect(healthCode == 200, "/healthz while serving: \(healthCode) \(health)")

            // The page, rendered by headless Chromium.
            let url = try await onThread { try ganger.statusURL() } + "/"
            let artifacts = packageDirectory() + "/.build/artifacts"
            mkdir(artifacts, 0o755)
            let shot = artifacts + "/status-live.png"
            unlink(shot)
            let profile = "/tmp/ganger-itest-chromium-\(randomTag())"
            let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                          "--user-data-dir=\(profile)", "--hide-scrollbars"]
            let dom = try await onThread { try run("chromium", common + ["--dump-dom", url], timeout: .seconds(120)) }
            let picture = try await onThread {
                try run("chromium", common + ["--window-size=1400,1400", "--screenshot=\(shot)", url], timeout: .seconds(120))
            }
            _ = try? await onThread { try run("/bin/rm", ["-rf", profile]) }
            #expect(dom.status == .exited(0), "chromium --dump-dom: \(dom.stderr.suffix(1500))")
            #expect(picture.status == .exited(0), "chromium --screenshot: \(picture.stderr.suffix(1500))")
            for expected in [instance, "ganger-echo:latest", address, "\(total) bytes", "client closed"] + clients
                + sizes.map({ "\($0) bytes" }) {
                #expect(dom.stdout.contains(expected), "the rendered page lacks \(expected)")
            }
            let header = readHead(shot, 8)
            #expect(header.starts(with: [0x89, 0x50, 0x4E, 0x47]), "no PNG at \(shot)")
        }
    }
}

/// The package root, from this file's path (Tests/IntegrationTests/<file>).
private func packageDirectory() -> String {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}

/// The first `count` bytes of a file (empty if it cannot be read).
private func readHead(_ path: String, _ count: Int) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: count)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
    return n > 0 ? Array(bytes[0..<n]) : []
}
