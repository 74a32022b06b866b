import Glibc

/// Number, size, duration and time formatting shared by the HTML page and `ganger status`.
/// No Foundation: fixed-point rounding by hand, wall time through `gmtime_r`.
enum StatusFormat {
    /// `value` rounded to `digits` decimals, trailing zeros kept: `fixed(1.5, 2)` is "1.50".
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return value.description }
        let whole = UInt64(scaled)
        let integer = whole / UInt64(scale)
        let fraction = whole % UInt64(scale)
        var text = (value < 0 && whole > 0 ? "-" : "") + String(integer)
        if digits > 0 {
            let digitsText = String(fraction)
            text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
        }
        return text
    }

    /// A latency: "3.1 ms", "412 ms", "1.93 s"; "–" for none.
    static func seconds(_ value: Double?) -> String {
        guard let value else { return "–" }
        if value < 0.01 { return fixed(value * 1000, 1) + " ms" }
        if value < 1 { return fixed(value * 1000, 0) + " ms" }
        if value < 100 { return fixed(value, 2) + " s" }
        return span(value)
    }

    /// A long span: "45s", "3m 05s", "2h 10m", "3d 1h".
    static func span(_ value: Double) -> String {
        let total = Int(max(0, value.rounded()))
        let (d, h, m, s) = (total / 86_400, total / 3_600 % 24, total / 60 % 60, total % 60)
        if d > 0 { return "\(d)d \(h)h" }
        if h > 0 { return "\(h)h \(pad(m))m" }
        if m > 0 { return "\(m)m \(pad(s))s" }
        return "\(s)s"
    }

    /// A byte count in binary units: "512 B", "4.0 KiB", "115.0 GiB".
    static func bytes(_ value: UInt64) -> String {
        if value < 1024 { return "\(value) B" }
        var scaled = Double(value) / 1024
        for unit in ["KiB", "MiB", "GiB", "TiB"] {
            if scaled < 1024 || unit == "TiB" { return fixed(scaled, 1) + " " + unit }
            scaled /= 1024
        }
        return "\(value) B"
    }

    /// Seconds since the epoch as UTC: "2026-01-01 00:00:00Z".
    static func utc(_ unix: Double) -> String {
        var t = time_t(unix.isFinite ? unix.rounded(.down) : 0)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "?" }
        return "\(parts.tm_year + 1900)-\(pad(Int(parts.tm_mon) + 1))-\(pad(Int(parts.tm_mday))) "
            + "\(pad(Int(parts.tm_hour))):\(pad(Int(parts.tm_min))):\(pad(Int(parts.tm_sec)))Z"
    }

    /// A container id as `docker ps` shows it: the first 12 characters.
    static func shortID(_ id: String) -> String { String(id.prefix(12)) }

    /// "13/16", or "13/∞" when the cap is -1.
    static func capacity(_ used: Int, _ cap: Int) -> String {
        "\(used)/" + (cap < 0 ? "∞" : String(cap))
    }

    /// Launches in flight over the launch window: "3/4"; "3" when windows are off.
    static func launching(_ inFlight: Int, _ window: Int?) -> String {
        window.map { "\(inFlight)/\($0)" } ?? "\(inFlight)"
    }

    /// `part` of `part + rest` as a percentage with one decimal: "86.3 %"; "–" when both are 0.
    static func share(_ part: Int, of rest: Int) -> String {
        let total = part + rest
        guard total > 0 else { return "–" }
        return fixed(Double(part) * 100 / Double(total), 1) + " %"
    }

    /// The relays' conduits for the page's header and `ganger status`: "relay pipes 3 lent,
    /// 12 idle", then "large buffers 1 of 8 lent" when large buffers are on.
    static func conduits(_ relay: StatusSnapshot.RelayConduits) -> [String] {
        ["relay pipes \(relay.pipesLent) lent, \(relay.pipesIdle) idle"
            + ((relay.pipesSmall ?? 0) > 0 ? " (\(relay.pipesSmall ?? 0) made small by the kernel)" : "")]
            + (relay.largeBuffersMax > 0 ? ["large buffers \(relay.largeBuffersLent) of \(relay.largeBuffersMax) lent"] : [])
    }

    private static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
}
