import GangerCore
import Glibc
import Testing
import TestSupport

/// deploy/prometheus with Debian's Prometheus: `promtool check rules` accepts the alert rules,
/// and a real Prometheus server (loopback, its own data directory, 1 s scrapes) scraping a live
/// ganger's status listener answers a query for a series ganger exported.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PrometheusTests {
    static let rules = "\(repositoryRoot)/deploy/prometheus/ganger-alerts.yml"

    @Test func promtool_acceptsTheAlertRules() async throws {
        let result = try await onThread { try run("/usr/bin/promtool", ["check", "rules", Self.rules], timeout: .seconds(60)) }
        #expect(result.status == .exited(0), "promtool: \(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("SUCCESS: 9 rules found"), "\(result.stdout)")
    }

    @Test func prometheusServer_scrapesALiveGanger_andAnswersForItsSeries() async throws {
        let checks = Checks()
        defer { checks.report() }
        let instance = uniqueInstance("prometheus")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            try await onThread {
                for i in 0..<3 { try echoSession(addresses["echo"]!, payload: Array("scraped \(i)\n".utf8)) }
                let status = try ganger.statusURL()
                let target = String(status.dropFirst("http://".count))
                let directory = try TemporaryDirectory()
                let port = try freeLoopbackPort()
                try writeFile(directory.path + "/prometheus.yml", """
                    global: {scrape_interval: 1s, evaluation_interval: 1s}
                    rule_files: [\(Self.rules)]
                    scrape_configs:
                      - job_name: ganger
                        static_configs: [{targets: ["\(target)"]}]
                    """)
                let server = try SpawnedProcess("/usr/bin/prometheus", [
                    "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
                    "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
                ])
                defer { _ = try? server.terminate(signal: SIGTERM, timeout: .seconds(20)) }
                let api = "http://127.0.0.1:\(port)"
                var answer = ""
                let found = try poll(timeout: .seconds(40), interval: .milliseconds(500)) {
                    if let ended = server.poll() { throw HarnessError("prometheus ended (\(ended))\n\(server.log)") }
                    guard let reply = try? StatusClient.get(api, path: "/api/v1/query?query=ganger_sessions_total", timeout: .seconds(5))
                    else { return false }
                    answer = String(decoding: reply.body, as: UTF8.self)
                    return reply.status == 200 && answer.contains("\"service\":\"echo\"")
                }
                checks.expect(found, "no ganger_sessions_total series within 40 s: \(answer)\n\(server.log)")
                // The value Prometheus scraped is ganger's count: 3 sessions.
                checks.expect(answer.contains("\"job\":\"ganger\"") && answer.hasSuffix(",\"3\"]}]}}"), "\(answer)")
                let up = try StatusClient.get(api, path: "/api/v1/query?query=up", timeout: .seconds(5))
                checks.expect(String(decoding: up.body, as: UTF8.self).contains(",\"1\"]"), "up: \(String(decoding: up.body, as: UTF8.self))")
                // The server loaded the rules as well (what promtool checked).
                let rules = String(decoding: try StatusClient.get(api, path: "/api/v1/rules", timeout: .seconds(5)).body, as: UTF8.self)
                checks.expect(rules.contains("GangerDaemonDown") && rules.contains("GangerColdTTFBHigh"), "\(rules.prefix(500))")
            }
        }
    }
}
