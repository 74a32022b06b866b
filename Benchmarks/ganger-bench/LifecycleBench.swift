import FoundationEssentials
import GangerCore
import Glibc
import Synchronization

/// (g) Warm time-to-first-byte: a service with `pool.warm: 4`; sequential sessions, and before
/// each one the bench waits until /status.json shows `poolReady` 4 again, so every session is
/// served by a ready pooled container (the figure is the warm path alone, not the refill rate).
/// Timed: connect → one byte sent → the echoed byte back.
///
/// (h) Sustained session rate: `concurrency` clients at once, `sessions` in all, each on a fresh
/// container (no pool): connect, one byte, its echo, close. Rate = sessions / time from the first
/// connect to the last echo; also until Ganger has removed every container. Against the raw floor
/// of the same work straight on the Engine API with the same concurrency (a keep-alive unix
/// connection per worker): create → start → inspect → connect until accepted → one byte echoed →
/// remove. Alternated per round.
///
/// Each part runs its own `ganger run` (release binary next to this one), instance
/// `<run instance>-warm` / `-rate`, swept with the run's prefix at the end.
struct LifecycleBench {
    struct Result: Codable {
        var warmSessions = 0
        var warmMode = "sequential; the bench waits for poolReady 4 before each session (every session warm)"
        /// Connect → first echoed byte, ms.
        var warmTTFB: Dist?
        var warmP99Ms: Double?
        var warmP50TargetMet: Bool?
        var warmP99TargetMet: Bool?
        /// Ganger's own view: /status.json ttfbWarm (accept → first byte to the client), ms.
        var warmTTFBGanger: Percentiles?
        var rateSessions = 0
        var concurrency = 0
        /// Sessions/s per round: ganger (last echo), ganger (every container removed), raw.
        var gangerRate: Figure?
        var gangerRateRemoved: Figure?
        var rawRate: Figure?
        var ratio: Double?
        var failures: [String] = []
    }

    struct Percentiles: Codable {
        var count: Int
        var p50: Double?
        var p90: Double?
        var p99: Double?
    }

    let run: DockerRun
    let warmSessions: Int
    let rateSessions: Int
    let concurrency: Int

    init(_ run: DockerRun) {
        self.run = run
        let settings = run.settings
        warmSessions = settings.count("BENCH_WARM_SESSIONS", 200, quick: 20)
        rateSessions = settings.count("BENCH_RATE_SESSIONS", 80, quick: 24)
        concurrency = settings.count("BENCH_RATE_CONCURRENCY", 8, quick: 8)
    }

    func run(log: (String) -> Void) -> Result {
        var result = Result()
        result.warmSessions = warmSessions
        result.rateSessions = rateSessions
        result.concurrency = concurrency
        do {
            try warm(&result, log: log)
        } catch {
            result.failures.append("warm: \(error)")
            log("  warm: FAILED: \(error)")
        }
        do {
            try rate(&result, log: log)
        } catch {
            result.failures.append("rate: \(error)")
            log("  rate: FAILED: \(error)")
        }
        return result
    }

    // MARK: (g)

    private func warm(_ result: inout Result, log: (String) -> Void) throws(BenchError) {
        let ganger = try LifecycleGanger(instance: run.instance + "-warm", directory: run.directory, name: "warm", extra: "pool: {warm: 4}")
        defer { ganger.stop() }
        var samples: [Double] = []
        var notFull = 0
        for i in 0..<warmSessions {
            if !waitUntil(15, step: 2_000, { (try? ganger.status().services[0].poolReady) == 4 }) { notFull += 1 }
            let t0 = monotonicSeconds()
            guard case let .connected(fd) = TCPClient.connect(host: "127.0.0.1", port: ganger.port, timeoutMs: 5_000, receiveTimeout: 15) else {
                throw BenchError("session \(i): connect failed")
            }
            do throws(BenchError) {
                try TCPClient.pingOneByte(fd)
            } catch {
                close(fd)
                throw error
            }
            samples.append((monotonicSeconds() - t0) * 1000)
            close(fd)
        }
        result.warmTTFB = Dist(samples)
        result.warmP99Ms = nearestRank(samples, 0.99)
        result.warmP50TargetMet = result.warmTTFB.map { $0.p50 < 2 }
        result.warmP99TargetMet = result.warmP99Ms.map { $0 < 10 }
        if notFull > 0 { result.failures.append("warm: pool not full within 15 s before \(notFull) session(s)") }
        if let status = try? ganger.status() {
            let w = status.services[0].ttfbWarm
            result.warmTTFBGanger = Percentiles(count: w.count, p50: w.p50.map { $0 * 1000 }, p90: w.p90.map { $0 * 1000 },
                                                p99: w.p99.map { $0 * 1000 })
        }
        log("  (g) warm TTFB, \(samples.count) sessions: p50 \(ms(result.warmTTFB?.p50)) ms, p90 \(ms(result.warmTTFB?.p90)) ms, "
            + "p99 \(ms(result.warmP99Ms)) ms, max \(ms(result.warmTTFB?.max)) ms")
    }

    // MARK: (h)

    private func rate(_ result: inout Result, log: (String) -> Void) throws(BenchError) {
        let ganger = try LifecycleGanger(instance: run.instance + "-rate", directory: run.directory, name: "rate", extra: nil)
        defer { ganger.stop() }
        var gangerRates: [Double] = []
        var removedRates: [Double] = []
        var rawRates: [Double] = []
        for round in 0..<run.settings.rounds {
            let order = round % 2 == 0 ? ["ganger", "raw"] : ["raw", "ganger"]
            for peer in order {
                let failures: [String]
                if peer == "ganger" {
                    let t0 = monotonicSeconds()
                    let measured = RateRound.ganger(port: ganger.port, sessions: rateSessions, concurrency: concurrency)
                    failures = measured.failures
                    let gone = waitUntil(60, step: 5_000) {
                        (try? run.api.listByInstanceLabel().contains { $0.instance == ganger.instance }) == false
                    }
                    let removed = monotonicSeconds()
                    gangerRates.append(measured.rate)
                    if gone { removedRates.append(Double(rateSessions) / (removed - t0)) }
                } else {
                    let measured = RateRound.raw(instance: run.instance + "-rawrate", sessions: rateSessions, concurrency: concurrency)
                    failures = measured.failures
                    rawRates.append(measured.rate)
                }
                result.failures += failures.prefix(5).map { "rate round \(round + 1) \(peer): \($0)" }
            }
            log("  (h) round \(round + 1): ganger \(format(gangerRates.last ?? 0, digits: 1)) sessions/s "
                + "(\(format(removedRates.last ?? 0, digits: 1)) until removed), raw \(format(rawRates.last ?? 0, digits: 1)) sessions/s, "
                + "\(rateSessions) sessions, \(concurrency) at a time")
        }
        result.gangerRate = Figure(gangerRates)
        result.gangerRateRemoved = Figure(removedRates)
        result.rawRate = Figure(rawRates)
        if let g = result.gangerRate, let r = result.rawRate { result.ratio = g.median / r.median }
    }
}

/// Nearest-rank percentile (the smallest sample with at least `p` of them at or below it).
func nearestRank(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return sorted[max(0, min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
}

/// A release `ganger run` with one echo service (`extra`: one more service key; `topLevel`: one
/// more top-level key), its listen port and status URL.
final class LifecycleGanger {
    let instance: String
    let child: ChildProcess
    let port: UInt16
    let statusURL: String

    init(instance: String, directory: String, name: String, extra: String?, maxContainers: Int = 16,
         topLevel: String? = nil) throws(BenchError) {
        self.instance = instance
        let binary = selfExecutable().split(separator: "/").dropLast().joined(separator: "/")
        let path = "/" + binary + "/ganger"
        guard access(path, X_OK) == 0 else { throw BenchError("\(path) not built (swift build -c release)") }
        let config = "\(directory)/ganger-\(name).yml"
        try writeFile(config, """
            instance: \(instance)
            daemons:
              - url: unix:///var/run/docker.sock
                max_containers: \(maxContainers)
            services:
              - name: \(name)
                listen: 127.0.0.1:0
                image: ganger-echo:latest
                port: 12345
                pull: never
                per_source: {rate: 0}
                accept: {rate: 0}
            \(extra.map { "    " + $0 } ?? "")
            \(topLevel ?? "")
            status: {listen: 127.0.0.1:0}
            shutdown_grace: 5s
            log: {level: notice, format: text}

            """)
        let child = try ChildProcess(name: "ganger-\(name)", argv: [path, "run", "-c", config], limit: 1800, directory: directory)
        self.child = child
        var port: UInt16?
        var url: String?
        _ = waitUntil(20) {
            for line in child.output.split(separator: "\n") {
                let words = line.split(separator: " ")
                if line.hasPrefix("ganger: service "), words.count >= 6, let colon = words[5].lastIndex(of: ":") {
                    port = UInt16(words[5][words[5].index(after: colon)...])
                }
                if line.hasPrefix("ganger: status on http://"), words.count >= 4 {
                    url = String(words[3].hasSuffix("/") ? words[3].dropLast() : words[3])
                }
            }
            return (port != nil && url != nil) || !child.isRunning
        }
        guard let port, let url else {
            child.terminate()
            throw BenchError("ganger (\(name)) did not report its listeners: \(child.errors.suffix(600))")
        }
        self.port = port
        statusURL = url
    }

    func status() throws -> StatusSnapshot {
        let reply = try StatusClient.get(statusURL, path: "/status.json", timeout: .seconds(5))
        return try JSONDecoder().decode(StatusSnapshot.self, from: Data(reply.body))
    }

    func stop() {
        if let pid = child.programPID { kill(pid, SIGTERM) }
        if child.wait(limit: 40) == nil { child.terminate() }
    }
}
