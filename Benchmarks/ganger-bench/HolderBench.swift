import GangerCore
import Glibc

/// (i) Cold time-to-first-byte through Ganger with network holders (`netns: {mode: holder,
/// holders: H, reuse: 1}`) against Ganger without holders and the raw Engine API floor,
/// alternated session by session (the order rotates every round). Arrival: before each holder
/// session the pool is full and quiet again (H ready, the used holder removed) — what a client
/// sees at a steady arrival rate slow enough for the pool to refill; the refill time (client
/// connect → pool full again) is reported, so the gap that rate needs is known. Each session of
/// the other two peers also starts with its previous container gone.
///
/// (j) Sustained session rate: `concurrency` clients at once, `sessions` per round, each on a
/// fresh container, through Ganger with holders (reuse 1, and each reuse R of the curve,
/// default 2, 4, 8), Ganger without, and the
/// raw floor (create → start → inspect → connect → echo → remove on the worker's path). Each
/// round starts with the holder pools full; Ganger's own counters give the fast-path share.
///
/// `ganger run`s of its own: instances `<run>-holders`, `<run>-holdreuse<R>` per R, `<run>-plain`;
/// the raw containers carry `<run>-holdraw`. All are swept with the run's prefix.
struct HolderBench {
    /// How much is measured, from the environment (bench/README.md).
    struct Sizes: Codable {
        /// Sessions per peer per round in (i), and per round in (j), `concurrency` at a time.
        var coldSessions: Int
        var rateSessions: Int
        var concurrency: Int
        /// `netns.holders` of the holder peers: `BENCH_HOLDERS`, by default one per concurrent
        /// client, at least 2.
        var holders: Int
        /// `netns.reuse` of the other holder peers in (j): the curve beside reuse 1.
        var reuses: [Int]
        /// No round starts after this many seconds (the run stays bounded on a slow daemon).
        var budgetSeconds: Int

        init(_ settings: BenchSettings) {
            coldSessions = settings.count("BENCH_HOLDER_COLD_SESSIONS", 10, quick: 3)
            rateSessions = settings.count("BENCH_HOLDER_RATE_SESSIONS", 40, quick: 12)
            concurrency = settings.count("BENCH_HOLDER_CONCURRENCY", 4, quick: 4)
            holders = settings.count("BENCH_HOLDERS", max(2, concurrency), quick: max(2, concurrency))
            // BENCH_HOLDER_REUSE: a comma-separated list (default 2,4,8; quick: 4).
            let asked = environment("BENCH_HOLDER_REUSE")?.split(separator: ",").compactMap { Int($0) }.filter { $0 > 1 } ?? []
            reuses = asked.isEmpty ? (settings.quick ? [4] : [2, 4, 8]) : Array(Set(asked)).sorted()
            budgetSeconds = settings.count("BENCH_HOLDER_SECONDS", 420, quick: 120)
        }
    }

    struct Result: Codable {
        var sizes: Sizes
        var arrival = ""
        /// Peer ("holders", "no-holders", "raw") → connect (raw: create) → first echoed byte, ms.
        var cold: [String: Dist] = [:]
        var holdersOverRawP50: Double?
        var holdersOverRawP90: Double?
        var holdersOverPlainP50: Double?
        var holdersOverPlainP90: Double?
        var plainOverRawP50: Double?
        /// Per round, p50 over p50: min/median/max over the rounds.
        var roundHoldersOverRaw: Figure?
        var roundHoldersOverPlain: Figure?
        /// Holder session: client connect → H holders ready again and the used one removed, ms.
        var refillMs: Dist?
        /// Ganger's own counters over (i): cold sessions through a holder / on the normal path.
        var coldFastPath = 0
        var coldNormalPath = 0
        /// Peer ("holders", "holders-reuse<R>" for each R, "no-holders", "raw") → sessions/s per round.
        var rates: [String: Figure] = [:]
        /// Medians over raw's median; and per round, over raw's rate in that round.
        var rateOverRaw: [String: Double] = [:]
        var rateRoundOverRaw: [String: Figure] = [:]
        /// Holder peers: [through a holder, normal path], summed over the rounds.
        var rateFastPath: [String: [Int]] = [:]
        var failures: [String] = []
    }

    let run: DockerRun
    let sizes: Sizes
    private var api: EngineAPI { run.api }
    private var instance: String { run.instance }
    private var rounds: Int { run.settings.rounds }

    init(_ run: DockerRun) {
        self.run = run
        sizes = Sizes(run.settings)
    }

    static func reusePeer(_ reuse: Int) -> String { "holders-reuse\(reuse)" }
    /// (j)'s peers in table order.
    static func ratePeers(_ sizes: Sizes) -> [String] { ["holders"] + sizes.reuses.map(reusePeer) + ["no-holders", "raw"] }

    func run(log: (String) -> Void) -> Result {
        var result = Result(sizes: sizes)
        let holders = sizes.holders
        result.arrival = "sequential; before each holder session the pool is full again (\(holders) ready, the used holder "
            + "removed): a steady arrival rate with a gap ≥ the refill time below; no-holders and raw sessions also start "
            + "with their previous container gone"
        let started = monotonicSeconds()
        var gangers: [LifecycleGanger] = []
        defer { for ganger in gangers { ganger.stop() } }
        do {
            let withHolders = try LifecycleGanger(instance: instance + "-holders", directory: run.directory, name: "holders",
                                                  extra: "netns: {mode: holder, holders: \(holders), reuse: 1}")
            gangers.append(withHolders)
            var peers = ["holders": withHolders]
            for reuse in sizes.reuses {
                let reused = try LifecycleGanger(instance: instance + "-holdreuse\(reuse)", directory: run.directory, name: "holdreuse\(reuse)",
                                                 extra: "netns: {mode: holder, holders: \(holders), reuse: \(reuse)}")
                gangers.append(reused)
                peers[Self.reusePeer(reuse)] = reused
            }
            let plain = try LifecycleGanger(instance: instance + "-plain", directory: run.directory, name: "plain", extra: nil)
            gangers.append(plain)
            peers["no-holders"] = plain
            for ganger in gangers where ganger !== plain && !quiet(ganger, holders: holders, limit: 60) {
                throw BenchError("\(ganger.instance): \(holders) holders not ready within 60 s")
            }
            cold(&result, holders: withHolders, plain: plain, until: started + Double(sizes.budgetSeconds) * 0.4, log: log)
            rate(&result, peers: peers, until: started + Double(sizes.budgetSeconds), log: log)
        } catch {
            result.failures.append("holders: \(error)")
            log("  holders: FAILED: \(error)")
        }
        return result
    }

    // MARK: (i)

    private func cold(_ result: inout Result, holders withHolders: LifecycleGanger, plain: LifecycleGanger, until deadline: Double,
                      log: (String) -> Void) {
        let peers = ["holders", "no-holders", "raw"]
        var samples: [String: [[Double]]] = Dictionary(uniqueKeysWithValues: peers.map { ($0, [[Double]](repeating: [], count: rounds)) })
        var refills: [Double] = []
        let before = try? withHolders.status().services[0]
        for round in 0..<rounds where monotonicSeconds() < deadline {
            // Rotate which peer goes first every round.
            let order = peers.indices.map { peers[($0 + round) % peers.count] }
            for index in 0..<sizes.coldSessions {
                for peer in order {
                    do throws(BenchError) {
                        switch peer {
                        case "holders":
                            let t0 = monotonicSeconds()
                            samples[peer]![round].append(try timedEcho(port: withHolders.port))
                            guard quiet(withHolders, holders: sizes.holders, limit: 30) else {
                                throw BenchError("pool not full again within 30 s")
                            }
                            refills.append((monotonicSeconds() - t0) * 1000)
                        case "no-holders":
                            samples[peer]![round].append(try timedEcho(port: plain.port))
                            guard quiet(plain, holders: 0, limit: 15) else { throw BenchError("container still there 15 s after close") }
                        default:
                            let echo = try api.coldEcho(gangerLikeContainer(image: "ganger-echo:latest", instance: instance + "-holdraw",
                                                                            service: "echo", client: "127.0.0.1:\(42000 + index)"))
                            samples[peer]![round].append(echo.totalMs)
                            try api.remove(echo.id)
                        }
                    } catch {
                        result.failures.append("cold round \(round + 1) \(peer): \(error)")
                        api.sweep(instancePrefix: instance + "-holdraw")
                    }
                }
            }
            let p50 = peers.map { "\($0) \(ms(Dist(samples[$0]![round])?.p50))" }.joined(separator: ", ")
            log("  (i) round \(round + 1) cold TTFB p50 ms: \(p50)")
        }
        if let before, let after = try? withHolders.status().services[0] {
            result.coldFastPath = (after.holderSessions ?? 0) - (before.holderSessions ?? 0)
            result.coldNormalPath = (after.holderFallbackSessions ?? 0) - (before.holderFallbackSessions ?? 0)
        }
        for peer in peers { result.cold[peer] = Dist(samples[peer]!.flatMap { $0 }) }
        result.refillMs = Dist(refills)
        let (h, p, r) = (result.cold["holders"], result.cold["no-holders"], result.cold["raw"])
        if let h, let r { (result.holdersOverRawP50, result.holdersOverRawP90) = (h.p50 / r.p50, h.p90 / r.p90) }
        if let h, let p { (result.holdersOverPlainP50, result.holdersOverPlainP90) = (h.p50 / p.p50, h.p90 / p.p90) }
        if let p, let r { result.plainOverRawP50 = p.p50 / r.p50 }
        func perRound(_ a: String, _ b: String) -> Figure? {
            Figure((0..<rounds).compactMap { round in
                guard let x = Dist(samples[a]![round]), let y = Dist(samples[b]![round]) else { return nil }
                return x.p50 / y.p50
            })
        }
        result.roundHoldersOverRaw = perRound("holders", "raw")
        result.roundHoldersOverPlain = perRound("holders", "no-holders")
    }

    /// Connect → one byte → its echo, ms; the connection closed after.
    private func timedEcho(port: UInt16) throws(BenchError) -> Double {
        let t0 = monotonicSeconds()
        try TCPClient.echoOnce(port: port, receiveTimeout: 15)
        return (monotonicSeconds() - t0) * 1000
    }

    /// Waits (at most `limit` s) until `ganger` has exactly `holders` containers and reports as
    /// many holders ready: no session container, no used holder left, the pool full.
    private func quiet(_ ganger: LifecycleGanger, holders: Int, limit: Double) -> Bool {
        waitUntil(limit, step: 5_000) {
            guard let count = try? api.listByInstanceLabel().filter({ $0.instance == ganger.instance }).count,
                  count == holders else { return false }
            return holders == 0 || (try? ganger.status().services[0].holdersReady) == holders
        }
    }

    // MARK: (j)

    private func rate(_ result: inout Result, peers gangers: [String: LifecycleGanger], until deadline: Double,
                      log: (String) -> Void) {
        let peers = Self.ratePeers(sizes)
        var rates: [String: [Double]] = [:]
        for round in 0..<rounds where monotonicSeconds() < deadline {
            let order = peers.indices.map { peers[($0 + round) % peers.count] }
            for peer in order {
                let measured: (rate: Double, failures: [String])
                if let ganger = gangers[peer] {
                    let pooled = peer != "no-holders"
                    if !quiet(ganger, holders: pooled ? sizes.holders : 0, limit: 60) {
                        result.failures.append("rate round \(round + 1) \(peer): not quiet within 60 s before the round")
                    }
                    let before = try? ganger.status().services[0]
                    measured = RateRound.ganger(port: ganger.port, sessions: sizes.rateSessions, concurrency: sizes.concurrency)
                    if pooled, let before, let after = try? ganger.status().services[0] {
                        let fast = (after.holderSessions ?? 0) - (before.holderSessions ?? 0)
                        let normal = (after.holderFallbackSessions ?? 0) - (before.holderFallbackSessions ?? 0)
                        let sum = result.rateFastPath[peer] ?? [0, 0]
                        result.rateFastPath[peer] = [sum[0] + fast, sum[1] + normal]
                    }
                } else {
                    measured = RateRound.raw(instance: instance + "-holdraw", sessions: sizes.rateSessions, concurrency: sizes.concurrency)
                }
                rates[peer, default: []].append(measured.rate)
                result.failures += measured.failures.prefix(5).map { "rate round \(round + 1) \(peer): \($0)" }
            }
            let line = peers.map { "\($0) \(format(rates[$0]?.last ?? 0, digits: 1))" }.joined(separator: ", ")
            log("  (j) round \(round + 1) sessions/s, \(sizes.rateSessions) sessions \(sizes.concurrency) at a time: \(line)")
        }
        for peer in peers { result.rates[peer] = Figure(rates[peer] ?? []) }
        for peer in peers where peer != "raw" {
            result.rateOverRaw[peer] = result.rates[peer]?.ratio(to: result.rates["raw"])
            result.rateRoundOverRaw[peer] = Figure(zip(rates[peer] ?? [], rates["raw"] ?? []).map { $0 / $1 })
        }
        // Leave nothing running for the next part: session containers of the last round.
        for (peer, ganger) in gangers { _ = quiet(ganger, holders: peer == "no-holders" ? 0 : sizes.holders, limit: 30) }
    }
}
