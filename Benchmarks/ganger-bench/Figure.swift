import Glibc

/// One measured quantity over the rounds of a run: the samples and their min/median/max.
struct Figure: Codable, Sendable {
    var samples: [Double]
    var min: Double
    var median: Double
    var max: Double

    init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        self.samples = samples
        min = sorted.first!
        max = sorted.last!
        let mid = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// This figure's median over `other`'s: ratios are computed within one run, never across runs.
    func ratio(to other: Figure?) -> Double? {
        guard let other, other.median > 0 else { return nil }
        return median / other.median
    }
}

/// Settings for a run, from the environment: BENCH_ROUNDS (default 3), BENCH_QUICK=1 for a smoke
/// run (one round, short and small transfers).
struct BenchSettings: Codable {
    var rounds: Int
    var quick: Bool
    /// iperf3 -t seconds per single-connection measurement.
    var streamSeconds: Int
    var manyConnections: Int
    var bytesPerConnection: Int
    var idleConnections: Int

    static func fromEnvironment(fileLimit: Int) -> BenchSettings {
        let quick = environment("BENCH_QUICK") == "1"
        let rounds = environment("BENCH_ROUNDS").flatMap { Int($0) }.map { Swift.max(1, $0) } ?? (quick ? 1 : 3)
        // The relay holds two descriptors per relayed connection (client and service) plus a few
        // of its own and up to 64 idle pooled pipes (128 ends): that, not the bench, caps how
        // many idle connections fit under RLIMIT_NOFILE.
        let idleCap = (fileLimit - 256) / 2
        return BenchSettings(
            rounds: rounds, quick: quick, streamSeconds: quick ? 1 : 3,
            manyConnections: quick ? 200 : 1000, bytesPerConnection: quick ? 256 << 10 : 1 << 20,
            idleConnections: Swift.min(quick ? 1000 : 10_000, idleCap))
    }
}

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

extension BenchSettings {
    /// A positive count from the environment variable `name`; else `normal`, or `quick` in a
    /// quick run.
    func count(_ name: String, _ normal: Int, quick: Int) -> Int {
        environment(name).flatMap { Int($0) }.map { Swift.max(1, $0) } ?? (self.quick ? quick : normal)
    }
}
