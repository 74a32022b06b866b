/// The simulation's one source of randomness: SplitMix64, so a seed replays the same scenario on
/// every machine and every run (no `SystemRandomNumberGenerator`, no hashing order).
public struct SimRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `range` (inclusive), without modulo bias worth caring about at these sizes.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        let width = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next() % width)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { p > 0 && unit() < p }

    /// Nanoseconds uniform in [low, high] milliseconds.
    public mutating func millis(_ low: Double, _ high: Double) -> UInt64 {
        UInt64((low + (high - low) * unit()) * 1_000_000)
    }

    /// A latency: mostly around `typical` milliseconds, with a long tail (one in ten up to 20×).
    public mutating func latency(typical: Double) -> UInt64 {
        let base = typical * (0.5 + unit())
        return UInt64((chance(0.1) ? base * (1 + 19 * unit()) : base) * 1_000_000)
    }

    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }

    /// The seed of scenario `index` derived from `base` (independent streams per scenario).
    public static func derive(base: UInt64, index: UInt64) -> UInt64 {
        var mixer = SimRandom(seed: base ^ (index &* 0xD1B5_4A32_D192_ED03))
        return mixer.next()
    }
}
