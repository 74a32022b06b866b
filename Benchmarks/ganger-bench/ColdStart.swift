import Glibc

/// (e) Cold time-to-first-byte, ganger against the raw Engine API floor, alternated session by
/// session (which goes first flips every round).
///
/// - ganger: connect to Ganger's echo listener, send one byte, time until the first echoed byte,
///   close; then wait until Ganger has removed the container, so every session is cold.
/// - raw: on one keep-alive unix connection, create (Ganger's labels and HostConfig) → start →
///   inspect (the IP) → connect until accepted (a refused connect is retried at once) → one byte
///   → first echoed byte. Removal is off the timed path (timed separately).
///
/// Phases from dockerd's events (its clock = ours, same host): client start → `create` event,
/// `create` → `start` event, `start` event → first byte. Both paths are split the same way, so
/// the difference shows where it is.
struct ColdStart {
    struct Sample: Codable {
        var peer: String
        var round: Int
        var totalMs: Double
        /// Client start → dockerd's `create` event (accept + create request + create).
        var toCreateMs: Double?
        /// `create` event → `start` event (start request + Docker's start).
        var createToStartMs: Double?
        /// `start` event → first byte (inspect + readiness + relay / echo).
        var startToFirstByteMs: Double?
        // The raw floor's own call timings.
        var createCallMs: Double?
        var startCallMs: Double?
        var inspectCallMs: Double?
        var connectMs: Double?
        var refused: Int?
        var echoMs: Double?
        var removeMs: Double?
        /// ganger: time from the client's close until the container was gone.
        var goneAfterMs: Double?
        var containerID: String?
        /// CLOCK_REALTIME ns at the client's start and at the first byte, for the events.
        var wallStart: Int64 = 0
        var wallEnd: Int64 = 0
    }

    struct Result: Codable {
        var ganger: Dist?
        var raw: Dist?
        /// Pooled p50 (p90) of ganger over raw's, this run.
        var ratioP50: Double?
        var ratioP90: Double?
        /// Per round: ganger's p50 over raw's p50, min/median/max over rounds.
        var roundRatiosP50: Figure?
        /// Phase → distribution, per peer (milliseconds).
        var phases: [String: [String: Dist]]
        /// Ganger's own "session end" ttfb_s (accept → first byte to the client), ms.
        var gangerLogged: Dist?
        var failures: [String]
        var samples: [Sample]
    }

    let api: EngineAPI
    let events: DockerEvents
    let instance: String
    let settings: BenchSettings
    let cold: ColdSettings
    let gangerPort: UInt16

    func run(log: (String) -> Void) -> Result {
        var samples: [Sample] = []
        samples.reserveCapacity(2 * settings.rounds * cold.sessions)
        var failures: [String] = []
        for round in 0..<settings.rounds {
            for index in 0..<cold.sessions {
                // Alternate session by session; the first of each pair flips every round.
                let order = (round % 2 == 0) ? ["ganger", "raw"] : ["raw", "ganger"]
                for peer in order {
                    do {
                        let sample = peer == "ganger" ? try gangerSession(round: round) : try rawSession(round: round, index: index)
                        samples.append(sample)
                    } catch {
                        failures.append("round \(round + 1) \(peer): \(error)")
                        log("  round \(round + 1) \(peer): FAILED: \(error)")
                        // A failed session may leave a container: clear before the next.
                        api.sweep(instancePrefix: instance + "-raw")
                    }
                }
            }
            let ganger = Dist(samples.filter { $0.peer == "ganger" && $0.round == round }.map(\.totalMs))
            let raw = Dist(samples.filter { $0.peer == "raw" && $0.round == round }.map(\.totalMs))
            log("  round \(round + 1): ganger p50 \(ms(ganger?.p50)) p90 \(ms(ganger?.p90)); raw p50 \(ms(raw?.p50)) p90 \(ms(raw?.p90))")
        }
        // dockerd's events, read once every session is over (none is in flight any more).
        for i in samples.indices {
            guard let id = samples[i].containerID, let created = events.time("create", id: id) else { continue }
            samples[i].toCreateMs = Double(created - samples[i].wallStart) / 1e6
            if let started = events.time("start", id: id) {
                samples[i].createToStartMs = Double(started - created) / 1e6
                samples[i].startToFirstByteMs = Double(samples[i].wallEnd - started) / 1e6
            }
        }
        var result = Result(phases: [:], failures: failures, samples: samples)
        result.ganger = Dist(samples.filter { $0.peer == "ganger" }.map(\.totalMs))
        result.raw = Dist(samples.filter { $0.peer == "raw" }.map(\.totalMs))
        if let g = result.ganger, let r = result.raw {
            result.ratioP50 = g.p50 / r.p50
            result.ratioP90 = g.p90 / r.p90
        }
        result.roundRatiosP50 = Figure((0..<settings.rounds).compactMap { round in
            guard let g = Dist(samples.filter { $0.peer == "ganger" && $0.round == round }.map(\.totalMs)),
                  let r = Dist(samples.filter { $0.peer == "raw" && $0.round == round }.map(\.totalMs)) else { return nil }
            return g.p50 / r.p50
        })
        for peer in ["ganger", "raw"] {
            let mine = samples.filter { $0.peer == peer }
            var phases: [String: Dist] = [:]
            let paths: [(String, KeyPath<Sample, Double?>)] = [
                ("client → create event", \.toCreateMs), ("create → start event", \.createToStartMs),
                ("start event → first byte", \.startToFirstByteMs), ("create call", \.createCallMs),
                ("start call", \.startCallMs), ("inspect call", \.inspectCallMs), ("connect until accepted", \.connectMs),
                ("echo (1 byte)", \.echoMs), ("remove (off path)", \.removeMs), ("close → container gone", \.goneAfterMs),
            ]
            for (name, path) in paths {
                if let dist = Dist(mine.compactMap { $0[keyPath: path] }) { phases[name] = dist }
            }
            if let dist = Dist(mine.compactMap { $0.refused.map(Double.init) }) { phases["refused connects"] = dist }
            result.phases[peer] = phases
        }
        return result
    }

    private func gangerSession(round: Int) throws(BenchError) -> Sample {
        let wallStart = realtimeNanos()
        let start = monotonicSeconds()
        let fd: Int32
        switch TCPClient.connect(host: "127.0.0.1", port: gangerPort, timeoutMs: 5_000, receiveTimeout: 15) {
        case let .connected(socket): fd = socket
        case .refused: throw BenchError("ganger refused the connection")
        case let .failed(message): throw BenchError(message)
        }
        do throws(BenchError) {
            try TCPClient.pingOneByte(fd)
        } catch {
            close(fd)
            throw error
        }
        let end = monotonicSeconds()
        let wallEnd = realtimeNanos()
        close(fd)
        let closed = monotonicSeconds()
        // Cold every time: wait (bounded) until Ganger has removed this session's container.
        var gone = false
        _ = waitUntil(15, step: 5_000) {
            gone = (try? api.listByInstanceLabel().contains { $0.instance == instance }) == false
            return gone
        }
        guard gone else { throw BenchError("ganger's container still there 15 s after the client closed") }
        var sample = Sample(peer: "ganger", round: round, totalMs: (end - start) * 1000)
        sample.goneAfterMs = (monotonicSeconds() - closed) * 1000
        sample.containerID = events.firstCreated(instance: instance, after: wallStart)?.id
        sample.wallStart = wallStart
        sample.wallEnd = wallEnd
        return sample
    }

    private func rawSession(round: Int, index: Int) throws(BenchError) -> Sample {
        let body = gangerLikeContainer(image: "ganger-echo:latest", instance: instance + "-raw", service: "echo",
                                       client: "127.0.0.1:\(40000 + index)")
        let echo = try api.coldEcho(body)
        var sample = Sample(peer: "raw", round: round, totalMs: echo.totalMs)
        sample.createCallMs = echo.createMs
        sample.startCallMs = echo.startMs
        sample.inspectCallMs = echo.inspectMs
        sample.connectMs = echo.connectMs
        sample.refused = echo.refused
        sample.echoMs = echo.echoMs
        sample.containerID = echo.id
        sample.wallStart = echo.wallStart
        sample.wallEnd = echo.wallEnd
        let r0 = monotonicSeconds()
        try api.remove(echo.id)
        sample.removeMs = (monotonicSeconds() - r0) * 1000
        return sample
    }
}

func ms(_ value: Double?) -> String { value.map { format($0, digits: 1) } ?? "-" }
