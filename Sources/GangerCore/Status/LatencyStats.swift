import Histogram

/// Time-to-first-byte observations: an HDR histogram (microseconds, 3 significant digits) for
/// percentiles, and fixed Prometheus buckets for `/metrics`. Constant memory, O(1) record.
struct LatencyStats {
    /// Prometheus bucket upper bounds, seconds: from a warm container (~1 ms) to a slow pull.
    static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    private var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    private var bucketCounts = [Int](repeating: 0, count: LatencyStats.bounds.count)
    private(set) var count = 0
    private(set) var sum = 0.0

    mutating func record(seconds: Double) {
        let micros = UInt64(max(seconds, 0) * 1_000_000)
        _ = histogram.record(min(micros, 3_600_000_000))
        count += 1
        sum += seconds
        if let index = Self.bounds.firstIndex(where: { seconds <= $0 }) { bucketCounts[index] += 1 }
    }

    var percentiles: StatusSnapshot.Percentiles {
        guard count > 0 else { return .init(count: 0, p50: nil, p90: nil, p99: nil) }
        func at(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1_000_000 }
        return .init(count: count, p50: at(50), p90: at(90), p99: at(99))
    }

    /// Cumulative buckets, as Prometheus wants them (`le` includes everything below).
    func merged(with other: LatencyStats) -> StatusSnapshot.Histogram {
        var running = 0
        let buckets = Self.bounds.indices.map { i -> StatusSnapshot.Histogram.Bucket in
            running += bucketCounts[i] + other.bucketCounts[i]
            return .init(le: Self.bounds[i], count: running)
        }
        return .init(buckets: buckets, sum: sum + other.sum, count: count + other.count)
    }
}
