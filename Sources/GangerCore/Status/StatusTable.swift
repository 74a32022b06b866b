/// `ganger status` output: the snapshot as plain-text tables (services, session ends,
/// daemons, recent sessions), columns padded, numbers right-aligned. Control characters in
/// peer-supplied text are shown escaped so they cannot move the terminal's cursor.
public enum StatusTable {
    public static func render(_ s: StatusSnapshot) -> String {
        var out = "ganger \(clean(s.instance)) v\(clean(s.version))"
        out += "  up \(StatusFormat.span(s.nowUnix - s.startedUnix))  as of \(StatusFormat.utc(s.nowUnix))"
        out += s.draining ? "  DRAINING\n" : "\n"
        if let relay = s.relay {
            out += StatusFormat.conduits(relay).joined(separator: "  ") + "\n"
        }

        out += "\nSERVICES\n"
        out += table(
            ["SERVICE", "LISTEN", "IMAGE", "CUR", "MAX", "TOTAL", "QUEUE", "QMAX", "QTIMEOUT", "REFUSED",
             "WARM", "READY", "IN", "OUT", "COLD p50/p90/p99", "WARM p50/p90/p99"],
            s.services.map { v in
                [v.name, v.listen, v.image, "\(v.sessionsCurrent)", "\(v.sessionsMax)", "\(v.sessionsTotal)",
                 "\(v.queueCurrent)", "\(v.queueMax)", "\(v.queueTimeouts)",
                 "\(v.refusedQueueFull + v.refusedPerSource)", "\(v.poolWarm)", "\(v.poolReady)",
                 StatusFormat.bytes(v.bytesIn), StatusFormat.bytes(v.bytesOut), percentiles(v.ttfbCold),
                 percentiles(v.ttfbWarm)]
            },
            leftColumns: 3)

        let holders = s.services.compactMap { v in
            v.holderFigures.map { f in
                [v.name, "\(f.ready)", "\(f.perDaemon)", "\(f.fastPath)", "\(f.normalPath)",
                 StatusFormat.share(f.fastPath, of: f.normalPath), "\(f.retired)", "\(f.discarded)"]
            }
        }
        if !holders.isEmpty {
            out += "\nNETWORK HOLDERS\n" + table(
                ["SERVICE", "READY", "PER DAEMON", "HOLDER SESSIONS", "NORMAL SESSIONS", "FAST PATH", "RETIRED", "DISCARDED"],
                holders, leftColumns: 1)
        }

        let ends = s.services.flatMap { v in
            v.endReasons.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { [v.name, $0.key, "\($0.value)"] }
        }
        if !ends.isEmpty {
            out += "\nSESSION ENDS\n" + table(["SERVICE", "REASON", "SESSIONS"], ends, leftColumns: 2)
        }

        out += "\nDAEMONS\n"
        out += table(
            ["DAEMON", "STATE", "SINCE", "CONTAINERS", "LAUNCHING", "LAST ERROR"],
            s.daemons.map { d in
                [d.url, (d.state == .draining ? (d.up ? "drain" : "drain, DOWN") : d.up ? (d.degraded ? "up, degraded" : "up") : "DOWN")
                    + (d.heldOff.isEmpty ? "" : ", held off: " + d.heldOff.joined(separator: " ")),
                 StatusFormat.span(s.nowUnix - d.sinceUnix) + " ago",
                 StatusFormat.capacity(d.containers, d.maxContainers), StatusFormat.launching(d.launching, d.launchWindow),
                 d.lastError ?? ""]
            },
            leftColumns: 2, lastLeft: true)

        out += "\nRECENT SESSIONS (newest first)\n"
        out += table(
            ["ENDED", "SERVICE", "CLIENT", "DAEMON", "CONTAINER", "DURATION", "TTFB", "IN", "OUT", "REASON"],
            s.recentSessions.map { r in
                [StatusFormat.span(s.nowUnix - r.endedUnix) + " ago", r.service, r.client, r.daemon,
                 StatusFormat.shortID(r.container), StatusFormat.seconds(r.durationSeconds),
                 StatusFormat.seconds(r.ttfbSeconds), StatusFormat.bytes(r.bytesIn), StatusFormat.bytes(r.bytesOut),
                 r.reason]
            },
            leftColumns: 5, lastLeft: true)
        return out
    }

    private static func percentiles(_ p: StatusSnapshot.Percentiles) -> String {
        guard p.count > 0 else { return "–" }
        return [p.p50, p.p90, p.p99].map { StatusFormat.seconds($0) }.joined(separator: " / ")
    }

    /// Pads columns to their widest cell; the first `leftColumns` (and the last, if
    /// `lastLeft`) are left-aligned, the rest right-aligned.
    static func table(_ header: [String], _ rows: [[String]], leftColumns: Int, lastLeft: Bool = false) -> String {
        if rows.isEmpty { return "  (none)\n" }
        let all = [header] + rows.map { $0.map(clean) }
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in all {
            var line = ""
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                let left = i < leftColumns || (lastLeft && i == row.count - 1)
                if i > 0 { line += "  " }
                line += left ? cell + (i == row.count - 1 ? "" : pad) : pad + cell
            }
            out += line + "\n"
        }
        return out
    }

    /// Text with control characters (newline, escape, ...) written as `\n`, `\u{1B}`.
    static func clean(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where c.value < 0x20 || c.value == 0x7F: out += "\\u{\(String(c.value, radix: 16))}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
