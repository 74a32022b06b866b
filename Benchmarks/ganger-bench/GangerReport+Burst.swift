extension GangerReport {
    /// (k) as table lines.
    var burstLines: [String] {
        guard let b = burst else { return ["(k) bursts: not measured"] }
        var lines: [String] = []
        func mmm(_ f: Figure?, digits: Int = 1) -> String {
            f.map { "\(format($0.min, digits: digits))/\(format($0.median, digits: digits))/\(format($0.max, digits: digits))" } ?? "-"
        }
        func med(_ f: Figure?) -> String { f.map { format($0.median, digits: 1) } ?? "-" }
        let rounds = Set(b.bursts.map(\.round)).count
        lines.append("(k) bursts on one dockerd: N clients connect at once, each sends a line and holds its connection until "
            + "the echo (≤ \(b.sizes.clientSeconds) s); launch window (default) vs launch_window: off, alternated; \(rounds) round(s)")
        lines.append("  \(b.config)")
        lines.append("  raw Engine API start rate (create+start of \(b.sizes.rawStarts), \(b.sizes.rawConcurrency) in flight): "
            + "starts/s min/median/max \(mmm(b.rawRate, digits: 2)); start call p50 \(ms(b.rawStartMs?.p50)) p90 \(ms(b.rawStartMs?.p90)) ms")
        lines.append("  " + pad("peer", 8) + pad("N", 5) + pad("served % min/med/max", 22) + pad("goodput/s min/med/max", 23)
            + pad("×raw", 7) + pad("TTFB first / median / last, s", 31) + pad("peak launching", 16) + "window")
        for clients in b.sizes.bursts {
            for peer in BurstBench.peers {
                guard let row = b.rows["\(peer)-\(clients)"], row.servedPercent != nil else { continue }
                var line = pad(peer, 8) + pad("\(clients)", 5) + pad(mmm(row.servedPercent, digits: 0), 22)
                line += pad(mmm(row.goodput, digits: 2), 23) + pad(row.goodputOverRaw.map { format($0) } ?? "-", 7)
                line += pad("\(med(row.first)) / \(med(row.median)) / \(med(row.last))", 31)
                line += pad("\(row.peakLaunching)", 16) + (row.windowRange ?? "-")
                lines.append("  " + line)
            }
        }
        lines.append("  (served % and goodput: min/median/max over rounds; TTFB: medians over rounds, of the served clients, "
            + "from the burst's start; goodput = served / (burst start → every client echoed or failed))")
        for burst in b.bursts {
            let failed = burst.failures.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }
            let ends = burst.gangerEnds.filter { !$0.key.hasPrefix("client closed") }.sorted { $0.value > $1.value }
                .map { "\($0.value)× \($0.key)" }
            guard !failed.isEmpty || !ends.isEmpty || burst.daemonNotUpSamples > 0 || burst.removedAfter == nil else { continue }
            var line = "round \(burst.round + 1) \(burst.peer) \(burst.clients):"
            if !failed.isEmpty { line += " clients: " + failed.prefix(4).joined(separator: ", ") + ";" }
            if !ends.isEmpty { line += " ganger: " + ends.prefix(4).joined(separator: ", ") + ";" }
            if burst.queueTimeouts > 0 { line += " \(burst.queueTimeouts) queue timeouts;" }
            if burst.daemonNotUpSamples > 0 { line += " daemon not up in \(burst.daemonNotUpSamples)/\(burst.samples) samples;" }
            if burst.removedAfter == nil { line += " containers NOT all removed within 180 s;" }
            lines.append("  " + line)
        }
        for failure in b.failures.prefix(10) { lines.append("  FAILED \(failure)") }
        return lines
    }
}
