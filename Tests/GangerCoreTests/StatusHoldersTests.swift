import FoundationEssentials
import Testing
@testable import GangerCore

/// Network holders on the page, in `ganger status`, in /metrics and /status.json: shown for a
/// service with `netns.mode: holder` (the sample's echo), absent for one without (hive).
@Suite struct StatusHoldersTests {
    @Test func page_holderSection_showsEveryFigureAndTheFastPathShare() throws {
        let page = StatusPage.render(.sample())
        let start = try #require(page.firstRange(of: "<h2>Network holders</h2>"))
        let section = page[start.lowerBound...].prefix { $0 != "\n" }
        // ready 2, per daemon 3, sessions 1,812 through holders and 288 without: 1812 / 2100.
        #expect(section.contains("<tr><td class=\"name\">echo</td><td class=\"n\">2</td><td class=\"n\">3</td>"
            + "<td class=\"n\">1812</td><td class=\"n\">288</td><td class=\"n\">86.3 %</td>"
            + "<td class=\"n\">1795</td><td class=\"n\">6</td></tr>"))
        #expect(!section.contains("hive"))
        // After the services table, before the session ends.
        let services = try #require(page.firstRange(of: "<h2>Services</h2>"))
        let ends = try #require(page.firstRange(of: "<h2>Session ends</h2>"))
        #expect(services.upperBound < start.lowerBound && start.upperBound < ends.lowerBound)
    }

    @Test func page_withoutHolderServices_hasNoHolderSection() {
        var snapshot = StatusSnapshot.sample()
        snapshot.services[0].holdersReady = nil
        #expect(!StatusPage.render(snapshot).contains("Network holders"))
        #expect(!StatusTable.render(snapshot).contains("NETWORK HOLDERS"))
    }

    @Test func fastPathShare_beforeAnySession_isADash() {
        var snapshot = StatusSnapshot.sample()
        snapshot.services[0].holderSessions = 0
        snapshot.services[0].holderFallbackSessions = 0
        let page = StatusPage.render(snapshot)
        #expect(page.contains("<td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">–</td>"))
        #expect(StatusFormat.share(0, of: 0) == "–")
        #expect(StatusFormat.share(3, of: 0) == "100.0 %")
        #expect(StatusFormat.share(1, of: 2) == "33.3 %")
    }

    @Test func table_holderSection_forTheTerminal() throws {
        let text = StatusTable.render(.sample())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let title = try #require(lines.firstIndex(of: "NETWORK HOLDERS"))
        #expect(lines[title + 1].split(separator: " ", omittingEmptySubsequences: true).first == "SERVICE")
        let row = lines[title + 2].split(separator: " ", omittingEmptySubsequences: true)
        #expect(row == ["echo", "2", "3", "1812", "288", "86.3", "%", "1795", "6"])
        #expect(lines[title + 3].isEmpty)
    }

    @Test func metrics_holderFamilies_onlyForHolderServices() {
        let text = Metrics.render(.sample())
        for line in [
            "# TYPE ganger_holders_ready gauge", "ganger_holders_ready{service=\"echo\"} 2",
            "# TYPE ganger_holders_per_daemon gauge", "ganger_holders_per_daemon{service=\"echo\"} 3",
            "# TYPE ganger_holder_sessions_total counter",
            "ganger_holder_sessions_total{service=\"echo\",path=\"holder\"} 1812",
            "ganger_holder_sessions_total{service=\"echo\",path=\"normal\"} 288",
            "# TYPE ganger_holders_removed_total counter",
            "ganger_holders_removed_total{service=\"echo\",reason=\"retired\"} 1795",
            "ganger_holders_removed_total{service=\"echo\",reason=\"discarded\"} 6",
        ] {
            #expect(text.contains("\n" + line + "\n"), "missing \(line)")
        }
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("ganger_holder") && $0.contains("hive") })
    }

    @Test func statusJSON_holderFields_presentOnlyInHolderMode() throws {
        let data = try JSONEncoder().encode(StatusSnapshot.sample())
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"holderFallbackSessions\":288"))
        #expect(text.contains("\"holdersDiscarded\":6"))
        #expect(text.contains("\"holdersPerDaemon\":3"))
        #expect(text.contains("\"holdersRetired\":1795"))
        // One occurrence each: echo's; hive runs no holders and shows none.
        #expect(text.ranges(of: "\"holderSessions\"").count == 1)
        #expect(text.ranges(of: "\"holdersReady\"").count == 1)
        let decoded = try JSONDecoder().decode(StatusSnapshot.self, from: data)
        #expect(decoded.services[1].holderFigures == nil)
        #expect(decoded.services[0].holderFigures == .init(ready: 2, perDaemon: 3, fastPath: 1_812, normalPath: 288,
                                                           retired: 1_795, discarded: 6))
    }
}
