/// Durations as the configuration writes them: `250ms`, `5s`, `2m`, `1h`, and `0` / `0s`.
extension Duration {
    /// Parses a configuration duration: a whole number followed by `ms`, `s`, `m` or `h`
    /// (a bare `0` is allowed too). Nil when the text is not one or does not fit.
    public init?(configString text: String) {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        if text == "0" {
            self = .zero
            return
        }
        // "ms" before "m" and "s": the longest suffix must win.
        guard let (suffix, unit) = units.sorted(by: { $0.0.count > $1.0.count })
            .first(where: { text.hasSuffix($0.0) }) else { return nil }
        let digits = text.dropLast(suffix.count)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int64(digits) else { return nil }
        let (millis, overflow) = value.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self = .milliseconds(millis)
    }

    /// The largest unit that states the duration exactly: `250ms`, `30s`, `5m`, `1h`, `0s`.
    /// Anything finer than a millisecond is rounded to the nearest millisecond.
    public var configString: String {
        let (seconds, attoseconds) = components
        let millis = seconds * 1_000 + (attoseconds + 500_000_000_000_000) / 1_000_000_000_000_000
        if millis == 0 { return "0s" }
        for (suffix, unit) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1_000)]
        where millis % unit == 0 {
            return "\(millis / unit)\(suffix)"
        }
        return "\(millis)ms"
    }
}
