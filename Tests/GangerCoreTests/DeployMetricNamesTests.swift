import FoundationEssentials
@testable import GangerCore
import Testing

/// The Grafana dashboard's queries and the alert rules use only metrics ganger exports: every
/// `ganger_…` name in each expression is a sample name of `/metrics` rendered from the sample
/// snapshot (which fills every family, holders included).
@Suite struct DeployMetricNamesTests {
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    /// The sample names of the exposition (`name{labels} value` and `name value` lines).
    static let exported: Set<String> = {
        var names: Set<String> = []
        for line in Metrics.render(.sample()).split(separator: "\n") where !line.hasPrefix("#") {
            names.insert(String(line.prefix { $0 != "{" && $0 != " " }))
        }
        return names
    }()

    /// The `ganger_…` identifiers in a PromQL expression.
    static func metricNames(in expression: String) -> [String] {
        // Identifiers are runs of letters, digits and underscores; the ganger ones are kept.
        expression.split { !($0.isLetter || $0.isNumber || $0 == "_") }.map(String.init).filter { $0.hasPrefix("ganger_") }
    }

    struct Dashboard: Decodable {
        struct Panel: Decodable {
            struct Target: Decodable { var expr: String }
            var title: String
            var targets: [Target]
        }
        var panels: [Panel]
    }

    @Test func grafanaDashboard_queriesOnlyExportedMetrics() throws {
        let text = try readFile("\(Self.root)/deploy/grafana/ganger.json")
        let dashboard = try JSONDecoder().decode(Dashboard.self, from: Data(text.utf8))
        #expect(dashboard.panels.count >= 8)
        var used = 0
        for panel in dashboard.panels {
            #expect(!panel.targets.isEmpty, "panel \(panel.title) has no query")
            for target in panel.targets {
                let names = Self.metricNames(in: target.expr)
                #expect(!names.isEmpty, "panel \(panel.title): no ganger metric in \(target.expr)")
                for name in names {
                    used += 1
                    #expect(Self.exported.contains(name), "panel \(panel.title): \(name) is not in /metrics")
                }
            }
        }
        #expect(used >= 20)
    }

    @Test func alertRules_useOnlyExportedMetrics() throws {
        let rules = try readFile("\(Self.root)/deploy/prometheus/ganger-alerts.yml")
        let expressions = rules.split(separator: "\n").filter { !$0.drop(while: { $0 == " " }).hasPrefix("#") }.joined(separator: "\n")
        let names = Self.metricNames(in: expressions)
        #expect(names.count >= 10)
        for name in names { #expect(Self.exported.contains(name), "\(name) is not in /metrics") }
    }

    @Test func metricNames_findsEachName_soAMisspeltOneFails() {
        #expect(Self.metricNames(in: "rate(ganger_sessions_total[5m]) / ganger_nope") == ["ganger_sessions_total", "ganger_nope"])
        #expect(!Self.exported.contains("ganger_nope"))
        #expect(Self.exported.contains("ganger_session_ttfb_seconds_bucket"))
    }

    private func readFile(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }
}
