import Glibc
import Synchronization

/// (k) Bursts on one daemon: N clients connect at once to one echo service on the default
/// dockerd (`max_containers` above the largest burst, every other key at its default), each
/// sends a line and holds its connection until the line is echoed (at most `clientSeconds`),
/// then closes. Two gangers of their own: the launch window at its default (instance
/// `<run>-burst`) and `launch_window: off` (`<run>-burstoff`); per burst size they go one after
/// the other, and which goes first flips every round.
///
/// Figures per burst: **served** (clients whose line came back whole), **goodput** (served /
/// seconds from the burst's start until every client had its echo or its failure) over the
/// **raw start rate** measured in the same run (create + start of `rawStarts` containers with
/// Ganger's body, `rawConcurrency` in flight, on keep-alive Engine API connections; removal off
/// the timed path), and the **first / median / last** time to the first echoed byte among the
/// served clients. Ganger's side: its session-end reasons and queue timeouts over the burst,
/// and from `/status.json` (sampled about once a second) the peak of launches in flight and
/// the window's range.
///
/// Before every burst the instance has no container left (the previous burst's removals are
/// awaited, bounded, and timed); raw containers carry `<run>-burstraw`. All are swept with the
/// run's prefix at the end.
struct BurstBench {
    /// How much is measured, from the environment (bench/README.md).
    struct Sizes: Codable {
        var bursts: [Int]
        var rawStarts: Int
        var rawConcurrency: Int
        /// The longest a client waits for its echo.
        var clientSeconds: Int
        var maxContainers: Int
        /// No burst starts after this many seconds from the figure's start.
        var budgetSeconds: Int

        init(_ settings: BenchSettings) {
            let sizes = environment("BENCH_BURST_SIZES").map { $0.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 } }
            bursts = sizes.flatMap { $0.isEmpty ? nil : $0 } ?? (settings.quick ? [50] : [100, 200])
            rawStarts = settings.count("BENCH_BURST_RAW_STARTS", 60, quick: 20)
            rawConcurrency = settings.count("BENCH_BURST_RAW_CONCURRENCY", 4, quick: 4)
            clientSeconds = settings.count("BENCH_BURST_CLIENT_SECONDS", 120, quick: 120)
            maxContainers = max(250, (bursts.max() ?? 0) + 50)
            budgetSeconds = settings.count("BENCH_BURST_SECONDS", 1800, quick: 600)
        }
    }

    /// One burst of one peer.
    struct Burst: Codable {
        var peer: String
        var round: Int
        var clients: Int
        var served = 0
        /// Burst start → every client echoed or failed, s.
        var seconds: Double = 0
        var goodput: Double = 0
        /// Burst start → first echoed byte, s, of the served clients (sorted).
        var ttfb: [Double] = []
        /// Client-side failures by reason.
        var failures: [String: Int] = [:]
        /// Ganger's session ends over the burst by reason, and its queue timeouts.
        var gangerEnds: [String: Int] = [:]
        var queueTimeouts = 0
        /// From /status.json during the burst: most launches in flight, the window's range,
        /// samples with the daemon not up, most clients queued.
        var peakLaunching = 0
        var windowMin: Int?
        var windowMax: Int?
        var daemonNotUpSamples = 0
        var samples = 0
        var peakQueued = 0
        /// Last client done → every container of the instance removed, s (nil: not within the bound).
        var removedAfter: Double?
    }

    /// One row of the table: a peer at one burst size over the rounds.
    struct Row: Codable {
        var servedPercent: Figure?
        var goodput: Figure?
        /// goodput's median over the raw start rate's median.
        var goodputOverRaw: Double?
        /// Per round (medians over rounds of each): first / median / last TTFB, s.
        var first: Figure?
        var median: Figure?
        var last: Figure?
        var peakLaunching = 0
        var windowRange: String?
        var failures: [String: Int] = [:]
    }

    struct Result: Codable {
        var sizes: Sizes
        var config = ""
        /// Raw create+start rate per round, starts/s; every start call's latency, ms.
        var rawRate: Figure?
        var rawStartMs: Dist?
        var bursts: [Burst] = []
        /// "window-100", "off-100", ...
        var rows: [String: Row] = [:]
        var failures: [String] = []
    }

    static let peers = ["window", "off"]

    let run: DockerRun
    let sizes: Sizes
    private var api: EngineAPI { run.api }

    init(_ run: DockerRun) {
        self.run = run
        sizes = Sizes(run.settings)
    }

    func run(log: (String) -> Void) -> Result {
        var result = Result(sizes: sizes)
        result.config = "one echo service (ganger-echo:latest), default dockerd, max_containers \(sizes.maxContainers), "
            + "every other key at its default (queue {max 1000, timeout 60s}, ready timeout 10s); "
            + "window: launch_window at its default {min 2, max 32, initial 4}; off: launch_window: off"
        let started = monotonicSeconds()
        var gangers: [String: LifecycleGanger] = [:]
        defer { for ganger in gangers.values { ganger.stop() } }
        var rawRates: [Double] = []
        var rawStarts: [Double] = []
        do {
            gangers["window"] = try LifecycleGanger(instance: run.instance + "-burst", directory: run.directory, name: "burst",
                                                    extra: nil, maxContainers: sizes.maxContainers)
            gangers["off"] = try LifecycleGanger(instance: run.instance + "-burstoff", directory: run.directory, name: "burstoff",
                                                 extra: nil, maxContainers: sizes.maxContainers, topLevel: "launch_window: off")
            for round in 0..<run.settings.rounds {
                guard monotonicSeconds() < started + Double(sizes.budgetSeconds) else {
                    result.failures.append("round \(round + 1) not started: BENCH_BURST_SECONDS \(sizes.budgetSeconds) spent")
                    break
                }
                // The raw rate first in even rounds, last in odd ones; window/off flip per round.
                if round % 2 == 0 { rawRound(round, &rawRates, &rawStarts, &result, log: log) }
                for clients in sizes.bursts where monotonicSeconds() < started + Double(sizes.budgetSeconds) {
                    for peer in round % 2 == 0 ? Self.peers : Array(Self.peers.reversed()) {
                        let burst = self.burst(gangers[peer]!, peer: peer, round: round, clients: clients)
                        result.bursts.append(burst)
                        log("  (k) round \(round + 1) \(peer) \(clients): " + Self.summary(burst))
                    }
                }
                if round % 2 == 1 { rawRound(round, &rawRates, &rawStarts, &result, log: log) }
            }
        } catch {
            result.failures.append("burst: \(error)")
            log("  burst: FAILED: \(error)")
        }
        result.rawRate = Figure(rawRates)
        result.rawStartMs = Dist(rawStarts)
        for clients in sizes.bursts {
            for peer in Self.peers {
                result.rows["\(peer)-\(clients)"] = row(result.bursts.filter { $0.peer == peer && $0.clients == clients }, raw: result.rawRate)
            }
        }
        return result
    }

    private func rawRound(_ round: Int, _ rates: inout [Double], _ starts: inout [Double], _ result: inout Result,
                          log: (String) -> Void) {
        let measured = rawStartRate()
        rates.append(measured.rate)
        starts += measured.startMs
        result.failures += measured.failures.prefix(5).map { "raw round \(round + 1): \($0)" }
        log("  (k) round \(round + 1) raw: \(format(measured.rate, digits: 1)) starts/s (\(sizes.rawStarts) create+start, "
            + "\(sizes.rawConcurrency) in flight; start call p50 \(ms(Dist(measured.startMs)?.p50)) ms)")
    }

    /// Create + start of `rawStarts` containers, `rawConcurrency` in flight: starts per second
    /// (first create sent → last start answered), each start call's ms; then every one removed
    /// (`rawConcurrency` at a time, off the timed path).
    private func rawStartRate() -> (rate: Double, startMs: [Double], failures: [String]) {
        let instance = run.instance + "-burstraw"
        let apis = (0..<sizes.rawConcurrency).map { _ in EngineAPI() }
        let made = Shared<(ids: [String], startMs: [Double])>(([], []))
        let t0 = monotonicSeconds()
        var failures = runWorkers(sizes.rawConcurrency, sessions: sizes.rawStarts) { worker throws(BenchError) in
            let api = apis[worker]
            let id = try api.create(gangerLikeContainer(image: "ganger-echo:latest", instance: instance, service: "echo",
                                                        client: "127.0.0.1:\(43000 + worker)"))
            let s0 = monotonicSeconds()
            do throws(BenchError) {
                try api.start(id)
            } catch {
                made.value.withLock { $0.ids.append(id) }
                throw error
            }
            let startMs = (monotonicSeconds() - s0) * 1000
            made.value.withLock {
                $0.ids.append(id)
                $0.startMs.append(startMs)
            }
        }
        let elapsed = monotonicSeconds() - t0
        let (ids, startMs) = made.value.withLock { $0 }
        let pending = Shared(ids)
        failures += runWorkers(sizes.rawConcurrency, sessions: ids.count) { worker throws(BenchError) in
            guard let id = pending.value.withLock({ $0.popLast() }) else { return }
            try apis[worker].remove(id)
        }
        apis[0].sweep(instancePrefix: instance)
        return (Double(startMs.count) / elapsed, startMs, failures)
    }

    /// One burst of `clients` at `ganger`; waits (bounded) until its containers are all removed.
    private func burst(_ ganger: LifecycleGanger, peer: String, round: Int, clients: Int) -> Burst {
        var burst = Burst(peer: peer, round: round, clients: clients)
        if !quiet(ganger, limit: 180) {
            burst.failures["containers of the previous burst not removed within 180 s"] = clients
            return burst
        }
        let before = try? ganger.status().services[0]
        let outcomes = BurstClients.run(port: ganger.port, count: clients, limit: Double(sizes.clientSeconds)) {
            guard let status = try? ganger.status() else { return }
            burst.samples += 1
            if let daemon = status.daemons.first {
                burst.peakLaunching = max(burst.peakLaunching, daemon.launching)
                if let window = daemon.launchWindow {
                    burst.windowMin = min(burst.windowMin ?? window, window)
                    burst.windowMax = max(burst.windowMax ?? window, window)
                }
                if daemon.state != .up { burst.daemonNotUpSamples += 1 }
            }
            burst.peakQueued = max(burst.peakQueued, status.services.first?.queueCurrent ?? 0)
        }
        let served = outcomes.filter { $0.failure == nil }
        burst.served = served.count
        burst.seconds = outcomes.map(\.done).max() ?? 0
        burst.goodput = burst.seconds > 0 ? Double(served.count) / burst.seconds : 0
        burst.ttfb = served.compactMap(\.firstByte).sorted()
        for outcome in outcomes { if let failure = outcome.failure { burst.failures[failure, default: 0] += 1 } }
        let doneAt = monotonicSeconds()
        if quiet(ganger, limit: 180) { burst.removedAfter = monotonicSeconds() - doneAt }
        if let before, let after = try? ganger.status().services[0] {
            for (reason, count) in after.endReasons where count != before.endReasons[reason] ?? 0 {
                burst.gangerEnds[reason] = count - (before.endReasons[reason] ?? 0)
            }
            burst.queueTimeouts = after.queueTimeouts - before.queueTimeouts
        }
        return burst
    }

    /// Waits (at most `limit` s) until `ganger`'s instance has no container and no session.
    private func quiet(_ ganger: LifecycleGanger, limit: Double) -> Bool {
        waitUntil(limit, step: 250_000) {
            guard let containers = try? api.listByInstanceLabel() else { return false }
            return !containers.contains { $0.instance == ganger.instance }
        }
    }

    private func row(_ bursts: [Burst], raw: Figure?) -> Row {
        var row = Row()
        row.servedPercent = Figure(bursts.map { 100 * Double($0.served) / Double(max(1, $0.clients)) })
        row.goodput = Figure(bursts.map(\.goodput))
        row.goodputOverRaw = row.goodput?.ratio(to: raw)
        row.first = Figure(bursts.compactMap(\.ttfb.first))
        row.median = Figure(bursts.compactMap { Self.median($0.ttfb) })
        row.last = Figure(bursts.compactMap(\.ttfb.last))
        row.peakLaunching = bursts.map(\.peakLaunching).max() ?? 0
        let lows = bursts.compactMap(\.windowMin)
        let highs = bursts.compactMap(\.windowMax)
        if let low = lows.min(), let high = highs.max() { row.windowRange = "\(low)–\(high)" }
        for burst in bursts { row.failures.merge(burst.failures, uniquingKeysWith: +) }
        return row
    }

    static func median(_ sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// One log line for a burst.
    static func summary(_ b: Burst) -> String {
        var line = "\(b.served)/\(b.clients) echoed in \(format(b.seconds, digits: 1)) s (\(format(b.goodput, digits: 2))/s)"
        if let first = b.ttfb.first, let last = b.ttfb.last {
            line += ", TTFB first/median/last \(format(first, digits: 1))/\(format(median(b.ttfb) ?? 0, digits: 1))/\(format(last, digits: 1)) s"
        }
        line += ", peak launching \(b.peakLaunching)"
        if let low = b.windowMin, let high = b.windowMax { line += ", window \(low)–\(high)" }
        if b.daemonNotUpSamples > 0 { line += ", daemon not up in \(b.daemonNotUpSamples)/\(b.samples) samples" }
        line += b.removedAfter.map { "; removed \(format($0, digits: 1)) s after" } ?? "; NOT all removed within 180 s"
        let failures = b.failures.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }
        if !failures.isEmpty { line += "; failed: " + failures.joined(separator: ", ") }
        let ends = b.gangerEnds.filter { !$0.key.hasPrefix("client closed") }.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }
        if !ends.isEmpty { line += "; ganger: " + ends.prefix(4).joined(separator: ", ") }
        if b.queueTimeouts > 0 { line += "; \(b.queueTimeouts) queue timeouts" }
        return line
    }
}

/// A mutex-guarded value that escaping closures (worker threads) can share.
final class Shared<Value>: @unchecked Sendable {
    let value: Mutex<Value>
    init(_ initial: sending Value) { value = Mutex(initial) }
}
