/// How many launches one daemon gets at once, adapted to what it shows: a pure controller fed
/// each launch's create-to-started latency.
///
/// dockerd's start throughput does not grow with concurrency (measured here: 7.1 starts/s with
/// 4 in flight, 7.1 with 16, 8.7 with 60), so more in flight only makes every start slower until
/// every client's budget runs out together. The window works like TCP Vegas: it keeps the
/// lowest latency seen as the daemon's unloaded figure (`baseline`, slowly forgotten so a daemon
/// that got slower for good is re-learnt), grows by one launch per window's worth of starts while
/// latency stays under `2 ×` baseline, and shrinks to `0.7 ×` (at most once per window's worth
/// of starts) when it climbs past `3 ×` baseline or a launch fails. A slow remote daemon and a
/// fast local one each find their own window between `minimum` and `maximum`.
public struct LaunchWindow: Sendable, Equatable {
    public let minimum: Int
    public let maximum: Int
    /// The current window, fractional so that additive increase is 1 per window's worth.
    public private(set) var size: Double
    /// Lowest start latency seen (nanoseconds); nil until the first start.
    public private(set) var baseline: UInt64?
    /// Starts since the last decrease: a decrease waits for a window's worth, so one burst of
    /// slow answers (all started before the decrease) does not shrink the window many times.
    private var sinceDecrease = 0
    /// Starts seen, for the status page.
    public private(set) var samples = 0

    /// `minimum`…`maximum` (at least 1); starts at `initial`.
    public init(minimum: Int, maximum: Int, initial: Int) {
        self.minimum = max(minimum, 1)
        self.maximum = max(maximum, self.minimum)
        size = Double(min(max(initial, self.minimum), self.maximum))
        sinceDecrease = Int(size)
    }

    /// The whole launches allowed in flight now.
    public var current: Int { Int(size) }

    /// A launch's container started `latency` nanoseconds after its create call went out.
    public mutating func started(latency: UInt64) {
        samples += 1
        sinceDecrease += 1
        // Forget the baseline slowly (about 1 % a start), so it follows a daemon that got slower.
        let floor = baseline.map { $0 &+ $0 / 100 } ?? latency
        baseline = min(floor, latency)
        guard let baseline else { return }
        if latency > 3 * baseline {
            decrease()
        } else if latency < 2 * baseline {
            size = min(size + 1 / size, Double(maximum))
        }
    }

    /// A launch failed in Docker's part (an error answer, no answer): back off as for congestion.
    public mutating func failed() {
        decrease()
    }

    private mutating func decrease() {
        guard sinceDecrease >= current else { return }
        sinceDecrease = 0
        size = max(size * 0.7, Double(minimum))
    }
}
