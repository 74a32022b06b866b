/// A token bucket: `rate` tokens a second up to `burst`; one token per admission. Pure: the
/// caller passes the time.
struct TokenBucket: Sendable, Equatable {
    private(set) var tokens: Double
    private(set) var last: UInt64

    /// A full bucket of `burst` tokens at `now`.
    init(burst: Int, now: UInt64) {
        tokens = Double(burst)
        last = now
    }

    /// Takes one token if there is one (after refilling for the time since the last take).
    mutating func take(now: UInt64, rate: Double, burst: Int) -> Bool {
        refill(now: now, rate: rate, burst: burst)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Whether it would be full at `now` (an idle source's bucket may be forgotten).
    func isFull(now: UInt64, rate: Double, burst: Int) -> Bool {
        var copy = self
        copy.refill(now: now, rate: rate, burst: burst)
        return copy.tokens >= Double(burst)
    }

    private mutating func refill(now: UInt64, rate: Double, burst: Int) {
        if now > last { tokens = min(Double(burst), tokens + Double(now - last) / 1e9 * rate) }
        last = max(last, now)
    }
}
