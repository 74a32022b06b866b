/// The `GET /` page: one self-contained HTML document in the spirit of HAProxy's stats page —
/// services, daemons and the last sessions as dense tables, inline CSS, no script, no external
/// asset. Wide tables scroll sideways inside their own box, so the page stays readable on a
/// phone. Every text from the snapshot is HTML-escaped.
public enum StatusPage {
    /// The page for `snapshot`; `refresh` (seconds) adds a meta refresh.
    public static func render(_ snapshot: StatusSnapshot, refresh: Int? = nil) -> String {
        var h = HTMLWriter()
        h.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        h.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        if let refresh { h.raw("<meta http-equiv=\"refresh\" content=\"\(refresh)\">") }
        h.raw("<title>Ganger · ")
        h.text(snapshot.instance)
        h.raw("</title><style>\(css)</style></head><body>\n")
        header(&h, snapshot, refresh: refresh)
        services(&h, snapshot)
        holders(&h, snapshot)
        endReasons(&h, snapshot)
        daemons(&h, snapshot)
        liveSessions(&h, snapshot)
        sessions(&h, snapshot)
        h.raw("</body></html>\n")
        return h.html
    }

    private static func header(_ h: inout HTMLWriter, _ s: StatusSnapshot, refresh: Int?) {
        h.raw("<header><h1>Ganger <span class=\"sub\">")
        h.text(s.instance)
        h.raw(" · v")
        h.text(s.version)
        h.raw("</span>")
        if s.draining { h.raw(" <span class=\"badge down\">draining</span>") }
        h.raw("</h1><p>up ")
        h.text(StatusFormat.span(s.nowUnix - s.startedUnix))
        h.raw(" (since ")
        h.text(StatusFormat.utc(s.startedUnix))
        h.raw(") · as of ")
        h.text(StatusFormat.utc(s.nowUnix))
        if let relay = s.relay {
            // HAProxy's `show info` gives its pipes the same way; a fat stream finding every
            // large buffer lent splices instead, so "8 of 8" says relay.large_buffers is short.
            for phrase in StatusFormat.conduits(relay) { h.text(" · " + phrase) }
        }
        h.raw("</p><nav>refresh: ")
        for (label, value) in [("off", nil), ("5 s", 5), ("30 s", 30)] as [(String, Int?)] {
            if value == refresh {
                h.raw("<b>\(label)</b> ")
            } else {
                h.raw("<a href=\"/\(value.map { "?refresh=\($0)" } ?? "")\">\(label)</a> ")
            }
        }
        h.raw("· <a href=\"/status.json\">status.json</a> · <a href=\"/metrics\">metrics</a> · <a href=\"/healthz\">healthz</a></nav></header>\n")
    }

    private static func services(_ h: inout HTMLWriter, _ s: StatusSnapshot) {
        h.raw("<h2>Services</h2><div class=\"scroll\"><table><thead><tr class=\"group\">")
        h.raw("<th rowspan=\"2\">Service</th><th colspan=\"3\">Sessions</th><th colspan=\"3\">Queue</th>")
        h.raw("<th colspan=\"2\">Refused</th><th colspan=\"2\">Pool</th><th colspan=\"2\">Bytes</th>")
        h.raw("<th colspan=\"4\">TTFB cold</th><th colspan=\"4\">TTFB warm</th></tr><tr>")
        for title in ["cur", "max", "total", "cur", "max", "timeouts", "queue full", "per source", "warm", "ready",
                      "in", "out", "p50", "p90", "p99", "n", "p50", "p90", "p99", "n"] {
            h.raw("<th>\(title)</th>")
        }
        h.raw("</tr></thead><tbody>")
        if s.services.isEmpty { h.raw("<tr><td colspan=\"21\" class=\"none\">no services</td></tr>") }
        for service in s.services {
            h.raw("<tr><td class=\"name\">")
            h.text(service.name)
            h.raw("<div class=\"detail\">")
            h.text(service.listen)
            h.raw(" → ")
            h.text(service.image)
            h.raw("</div></td>")
            h.cells([service.sessionsCurrent, service.sessionsMax, service.sessionsTotal,
                     service.queueCurrent, service.queueMax, service.queueTimeouts,
                     service.refusedQueueFull, service.refusedPerSource, service.poolWarm, service.poolReady])
            h.bytesCell(service.bytesIn)
            h.bytesCell(service.bytesOut)
            for p in [service.ttfbCold, service.ttfbWarm] {
                for value in [p.p50, p.p90, p.p99] { h.cell(StatusFormat.seconds(value)) }
                h.cells([p.count])
            }
            h.raw("</tr>")
        }
        h.raw("</tbody></table></div>\n")
    }

    /// Only services with `netns.mode: holder`; no section at all when none has them.
    private static func holders(_ h: inout HTMLWriter, _ s: StatusSnapshot) {
        let rows = s.services.compactMap { service in service.holderFigures.map { (service.name, $0) } }
        guard !rows.isEmpty else { return }
        h.raw("<h2>Network holders</h2><div class=\"scroll\"><table><thead><tr class=\"group\">")
        h.raw("<th rowspan=\"2\">Service</th><th colspan=\"2\">Holders</th><th colspan=\"3\">Cold sessions</th>")
        h.raw("<th colspan=\"2\">Holders removed</th></tr><tr>")
        for title in ["ready", "per daemon", "holder", "normal", "fast path", "retired", "discarded"] {
            h.raw("<th>\(title)</th>")
        }
        h.raw("</tr></thead><tbody>")
        for (name, f) in rows {
            h.raw("<tr><td class=\"name\">")
            h.text(name)
            h.raw("</td>")
            h.cells([f.ready, f.perDaemon, f.fastPath, f.normalPath])
            h.cell(StatusFormat.share(f.fastPath, of: f.normalPath))
            h.cells([f.retired, f.discarded])
            h.raw("</tr>")
        }
        h.raw("</tbody></table></div>\n")
    }

    private static func endReasons(_ h: inout HTMLWriter, _ s: StatusSnapshot) {
        h.raw("<h2>Session ends</h2><div class=\"scroll\"><table><thead><tr><th>Service</th><th>Reason</th><th>Sessions</th></tr></thead><tbody>")
        var any = false
        for service in s.services {
            for (reason, count) in service.endReasons.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                any = true
                h.raw("<tr><td>")
                h.text(service.name)
                h.raw("</td><td class=\"reason\">")
                h.text(reason)
                h.raw("</td>")
                h.cells([count])
                h.raw("</tr>")
            }
        }
        if !any { h.raw("<tr><td colspan=\"3\" class=\"none\">no session has ended yet</td></tr>") }
        h.raw("</tbody></table></div>\n")
    }

    private static func daemons(_ h: inout HTMLWriter, _ s: StatusSnapshot) {
        h.raw("<h2>Daemons</h2><div class=\"scroll\"><table><thead><tr><th>Daemon</th><th>State</th><th>Since</th>")
        h.raw("<th>Containers</th><th title=\"launches between create and start / the daemon's launch window\">Launching</th>"
              + "<th>Last error</th></tr></thead><tbody>")
        if s.daemons.isEmpty { h.raw("<tr><td colspan=\"6\" class=\"none\">no daemons</td></tr>") }
        for d in s.daemons {
            h.raw("<tr class=\"\(d.state.rawValue)\"><td class=\"name\">")
            h.text(d.url)
            h.raw("</td><td>")
            switch d.state {
            case .up:
                h.raw("<span class=\"badge up\">UP</span>")
                if d.degraded { h.raw(" <span class=\"badge down\" title=\"a launch's call got no answer in time\">DEGRADED</span>") }
                for service in d.heldOff {
                    h.raw(" <span class=\"badge down\" title=\"Docker there refused a launch of this service, or does no launch work: held off for now\">HELD OFF ")
                    h.text(service)
                    h.raw("</span>")
                }
            case .down: h.raw("<span class=\"badge down\">DOWN</span>")
            case .draining:
                // HAProxy's DRAIN: no new sessions, the current ones go on; it may also have stopped answering.
                h.raw("<span class=\"badge draining\" title=\"left the catalog: no new sessions, the current ones go on\">DRAIN</span>")
                if !d.up { h.raw(" <span class=\"badge down\">DOWN</span>") }
            }
            h.raw("</td>")
            h.raw("<td class=\"n\" title=\"\(HTMLWriter.escape(StatusFormat.utc(d.sinceUnix)))\">")
            h.text(StatusFormat.span(s.nowUnix - d.sinceUnix) + " ago")
            h.raw("</td>")
            h.cell(StatusFormat.capacity(d.containers, d.maxContainers))
            h.cell(StatusFormat.launching(d.launching, d.launchWindow))
            h.raw("<td class=\"reason\">")
            h.text(d.lastError ?? "")
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table></div>\n")
    }

    private static func liveSessions(_ h: inout HTMLWriter, _ s: StatusSnapshot) {
        guard let live = s.liveSessions, !live.isEmpty else { return }
        h.raw("<h2>Live sessions <span class=\"sub\">(oldest \(live.count) relaying; ↻ taken over from the previous process)</span></h2>")
        h.raw("<div class=\"scroll\"><table><thead><tr><th>Started</th><th>Service</th><th>Client</th><th>Daemon</th>")
        h.raw("<th>Container</th><th>Bytes in</th><th>Bytes out</th></tr></thead><tbody>")
        for r in live {
            h.raw("<tr><td class=\"n\" title=\"\(HTMLWriter.escape(StatusFormat.utc(r.startedUnix)))\">")
            h.text(StatusFormat.span(s.nowUnix - r.startedUnix) + " ago" + (r.inherited ? " ↻" : ""))
            h.raw("</td><td>")
            h.text(r.service)
            h.raw("</td><td>")
            h.text(r.client)
            h.raw("</td><td>")
            h.text(r.daemon)
            h.raw("</td><td class=\"mono\">")
            h.text(r.container)
            h.raw("</td>")
            h.bytesCell(r.bytesIn)
            h.bytesCell(r.bytesOut)
            h.raw("</tr>\n")
        }
        h.raw("</tbody></table></div>\n")
    }

    private static func sessions(_ h: inout HTMLWriter, _ s: StatusSnapshot) {
        h.raw("<h2>Recent sessions <span class=\"sub\">(last \(s.recentSessions.count), newest first)</span></h2>")
        h.raw("<div class=\"scroll\"><table><thead><tr><th>Ended</th><th>Service</th><th>Client</th><th>Daemon</th>")
        h.raw("<th>Container</th><th>Duration</th><th>TTFB</th><th>Bytes in</th><th>Bytes out</th><th>Reason</th></tr></thead><tbody>")
        if s.recentSessions.isEmpty { h.raw("<tr><td colspan=\"10\" class=\"none\">no session has ended yet</td></tr>") }
        for r in s.recentSessions {
            h.raw("<tr><td class=\"n\" title=\"\(HTMLWriter.escape(StatusFormat.utc(r.endedUnix)))\">")
            h.text(StatusFormat.span(s.nowUnix - r.endedUnix) + " ago")
            h.raw("</td><td>")
            h.text(r.service)
            h.raw("</td><td>")
            h.text(r.client)
            h.raw("</td><td>")
            h.text(r.daemon)
            h.raw("</td><td class=\"mono\" title=\"\(HTMLWriter.escape(r.container))\">")
            h.text(StatusFormat.shortID(r.container))
            h.raw("</td>")
            h.cell(StatusFormat.seconds(r.durationSeconds))
            h.cell(StatusFormat.seconds(r.ttfbSeconds))
            h.bytesCell(r.bytesIn)
            h.bytesCell(r.bytesOut)
            h.raw("<td class=\"reason\">")
            h.text(r.reason)
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table></div>\n")
    }

    private static let css = """
        body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;padding:8px 12px;\
        color:#111;background:#fff}
        h1{font-size:18px;margin:4px 0}h2{font-size:14px;margin:16px 0 4px;color:#235}
        .sub{font-weight:normal;color:#567;font-size:12px}p,nav{margin:2px 0;color:#444}
        a{color:#0645ad}.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
        table{border-collapse:collapse;white-space:nowrap;font-variant-numeric:tabular-nums}
        th,td{border:1px solid #b8c4d0;padding:2px 6px}
        th{background:#20446a;color:#fff;font-weight:600}tr.group th{background:#163350}
        td{text-align:left}td.n{text-align:right}td.name{font-weight:600}
        td.reason{white-space:pre-wrap;min-width:16em;max-width:40em;overflow-wrap:anywhere}
        td.mono{font-family:ui-monospace,Menlo,Consolas,monospace}
        .detail{font-weight:normal;color:#567;font-size:11px}
        tbody tr:nth-child(even){background:#f2f6fa}tr.up td{background:#dff5df}tr.down td{background:#fbdcdc}
        tr.draining td{background:#d9e8fb}
        .badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:11px;font-weight:700;color:#fff}
        .badge.up{background:#2a8a2a}.badge.down{background:#c0392b}.badge.draining{background:#2364aa}
        @media (max-width:600px){body{padding:4px;font-size:12px}th,td{padding:2px 4px}}
        """
}

/// Builds HTML by appending; `text` escapes, `raw` does not.
struct HTMLWriter {
    var html = ""

    mutating func raw(_ markup: String) { html += markup }
    mutating func text(_ text: String) { html += Self.escape(text) }

    mutating func cell(_ text: String) {
        html += "<td class=\"n\">" + Self.escape(text) + "</td>"
    }

    mutating func cells(_ numbers: [Int]) {
        for n in numbers { html += "<td class=\"n\">\(n)</td>" }
    }

    /// A human size with the exact count on hover.
    mutating func bytesCell(_ value: UInt64) {
        html += "<td class=\"n\" title=\"\(value) bytes\">" + Self.escape(StatusFormat.bytes(value)) + "</td>"
    }

    /// `&`, `<`, `>`, `"` and `'` as character references: safe in text and quoted attributes.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
