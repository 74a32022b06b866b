/// Runs scenarios by seed: the entry point of `ganger-sim` and of the simulation test.
public enum Simulation {
    /// The base every `SIM_SEEDS` run derives its seeds from (`SIM_BASE` overrides it).
    public static let defaultBase: UInt64 = 0x6A09_E667_F3BC_C909
    /// Trace lines a violation report shows.
    public static let traceLines = 60

    /// The seed of scenario `index` of a run.
    public static func seed(_ index: Int, base: UInt64 = defaultBase) -> UInt64 {
        SimRandom.derive(base: base, index: UInt64(index))
    }

    /// One scenario. A violation found without a trace is replayed with one (the run is
    /// deterministic), so reports always carry the last trace lines.
    public static func run(seed: UInt64, traceLive: Bool = false) -> SimOutcome {
        let outcome = SimWorld(scenario: SimScenario(seed: seed), traceLimit: traceLive ? traceLines : nil, traceLive: traceLive).run()
        guard outcome.violation != nil, !traceLive else { return outcome }
        return SimWorld(scenario: SimScenario(seed: seed), traceLimit: traceLines).run()
    }

    /// One burst scenario (`SimScenario.burst`), windows on or off; replayed with a trace when
    /// it breaks an invariant.
    public static func runBurst(seed: UInt64, windowed: Bool = true, clients: Int? = nil, daemons: Int? = nil,
                                traceLive: Bool = false) -> SimOutcome {
        let scenario = SimScenario.burst(seed: seed, windowed: windowed, clients: clients, daemons: daemons)
        let outcome = SimWorld(scenario: scenario, traceLimit: traceLive ? traceLines : nil, traceLive: traceLive).run()
        guard outcome.violation != nil, !traceLive else { return outcome }
        return SimWorld(scenario: scenario, traceLimit: traceLines).run()
    }

    /// Burst scenarios `range` of a run (seeds derived from `base` as for the others).
    /// `maxClients`: bursts drawn larger are cut to this many clients (a debug build's test).
    public static func runBursts(_ range: Range<Int>, base: UInt64 = defaultBase, maxClients: Int? = nil,
                                 willRun: (UInt64) -> Void = { _ in }) -> [SimViolation] {
        var found: [SimViolation] = []
        for index in range {
            let seed = seed(index, base: base ^ burstBase)
            willRun(seed)
            let clients = maxClients.map { min(SimScenario.burst(seed: seed, windowed: true).clients.count, $0) }
            if let violation = runBurst(seed: seed, clients: clients).violation { found.append(violation) }
        }
        return found
    }

    /// "served/N, waited first/median/last" for a burst's outcome.
    public static func summary(_ outcome: SimOutcome) -> String {
        func seconds(_ ns: UInt64?) -> String { ns.map { "\(Double($0 / 10_000_000) / 100)s" } ?? "-" }
        let waits = outcome.waits
        return "\(outcome.relayed)/\(outcome.clients) served, waited \(seconds(waits.first)) / \(seconds(waits.isEmpty ? nil : waits[waits.count / 2])) / \(seconds(waits.last))"
    }

    /// Burst seeds are derived from the run's base mixed with this.
    public static let burstBase: UInt64 = 0xB0B5_0000_B0B5

    /// Scenarios `range` of a run: the violations found, in seed order.
    public static func run(_ range: Range<Int>, base: UInt64 = defaultBase, willRun: (UInt64) -> Void = { _ in }) -> [SimViolation] {
        var found: [SimViolation] = []
        for index in range {
            let seed = seed(index, base: base)
            willRun(seed)
            if let violation = run(seed: seed).violation { found.append(violation) }
        }
        return found
    }
}

extension Simulation {
    /// How the sessions of scenarios `range` ended, by the kind of reason (`SIM_STATS=1`): to see
    /// that the faults reach every path.
    public static func reasonCounts(_ range: Range<Int>, base: UInt64 = defaultBase) -> [(reason: String, count: Int)] {
        var counts: [String: Int] = [:]
        for index in range {
            let outcome = run(seed: seed(index, base: base))
            counts["(admitted from a queue)", default: 0] += outcome.admittedFromQueue
            for reason in outcome.reasons {
                var kind = Substring(reason)
                if let cut = kind.firstIndex(where: { $0 == ":" || $0 == "(" || $0 == ";" }) { kind = kind[..<cut] }
                if reason.contains("(container: ") { kind += " …(container: …)" }
                counts[String(kind), default: 0] += 1
            }
        }
        return counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { (reason: $0.key, count: $0.value) }
    }
}
