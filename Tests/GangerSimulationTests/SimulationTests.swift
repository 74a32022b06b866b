import Dispatch
import GangerSimulation
import Testing

/// The deterministic simulation inside `make test`: 10,000 seeded scenarios (about 20 s in a
/// debug build on two cores), the seeds that found bugs, and replay determinism. `make simulate`
/// runs more.
@Suite struct SimulationTests {
    // Two threads over disjoint halves: `make test` runs tests one at a time.
    @Test func tenThousandScenarios_keepEveryInvariant() {
        final class Found: @unchecked Sendable { var halves: [[SimViolation]] = [[], []] }
        let found = Found()
        DispatchQueue.concurrentPerform(iterations: 2) { half in found.halves[half] = Simulation.run((half * 5000)..<((half + 1) * 5000)) }
        let violations = found.halves.flatMap { $0 }
        for violation in violations.prefix(3) {
            Issue.record("\(violation)  (replay: SIM_SEED=\(violation.seed) make simulate)\n\(violation.trace.joined(separator: "\n"))")
        }
        #expect(violations.isEmpty, "\(violations.count) of 10000 scenarios broke an invariant")
    }

    /// Seeds that found bugs in the lifecycle (docs/testing.md lists them). The generator has
    /// changed since, so they are fixed scenarios now; `LifecycleMachineTests` holds the exact
    /// event sequences.
    @Test(arguments: [
        7_345_697_300_389_051_472 as UInt64,  // readmitted onto the daemon that had just failed
        17_642_316_490_568_446_823,  // readmission of a session whose service a reload removed
        348_797_353_477_552_826,  // a stale recheck replaced a readmitted launch's container
        17_164_824_017_004_778_296,  // a replaced container's exit code in the relay's end reason
        18_113_121_969_857_652_268,  // idle warm containers of another service held every slot
        10_168_208_605_290_501_242,  // ... and a daemon's rejoining (a control call) asked for no eviction
        1_079_516_233_698_480_060,
        3_415_114_925_026_555_134,
        4_967_030_096_985_691_004,
        9_689_798_359_972_826_197,  // a session placed again off a down daemon kept its given-up container's note
        18_369_014_705_065_597_110,  // a refusal on probation left placement a trial the breaker no longer had
        307_909_786_994_467_411,  // a create made after its removal by name was nobody's (SIM_BASE=20261129)
        9_004_031_362_069_318_496,
        11_402_923_632_696_386_215,
    ])
    func regressionSeed_keepsEveryInvariant(seed: UInt64) {
        let outcome = Simulation.run(seed: seed)
        #expect(outcome.violation == nil, "\(outcome.violation.map { "\($0)\n\($0.trace.joined(separator: "\n"))" } ?? "")")
        #expect(outcome.clients > 0)
    }

    /// Bursts of 10-250 clients (`make simulate` runs them up to 1,000) on congested daemons
    /// with the launch window on (issue 19): every invariant, goodput ≥ 0.9 × the daemons' start capacity, no client waiting in a queue
    /// while a daemon has room for a launch.
    @Test func bursts_keepGoodputAndWorkConservation() {
        final class Found: @unchecked Sendable { var halves: [[SimViolation]] = [[], []] }
        let found = Found()
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            found.halves[half] = Simulation.runBursts((half * Self.bursts / 2)..<((half + 1) * Self.bursts / 2), maxClients: 250)
        }
        let violations = found.halves.flatMap { $0 }
        for violation in violations.prefix(3) {
            Issue.record("\(violation)  (replay: SIM_BURST=\(violation.seed) make simulate)\n\(violation.trace.joined(separator: "\n"))")
        }
        #expect(violations.isEmpty, "\(violations.count) of \(Self.bursts) bursts broke an invariant")
    }

    static let bursts = 12

    /// The same bursts with the window off and on, one daemon (7 starts a second, `queue.timeout`
    /// 60 s, `ready.timeout` 10 s from the first start). What the model shows: up to about 420
    /// clients (60 s × 7/s) both serve everyone, the windowed one with far shorter first waits;
    /// beyond, without a window every start in the daemon slows down together and no client gets
    /// its container within its budget (congestion collapse), with it the daemon serves at its
    /// full rate until the queue times the rest out.
    @Test func burstWithAndWithoutWindow() {
        let seed: UInt64 = 19
        for clients in [200, 500] {
            let windowed = Simulation.runBurst(seed: seed, windowed: true, clients: clients, daemons: 1)
            let open = Simulation.runBurst(seed: seed, windowed: false, clients: clients, daemons: 1)
            print("burst of \(clients) on one daemon: window on \(Simulation.summary(windowed)); off \(Simulation.summary(open))")
            #expect(windowed.violation == nil, "\(windowed.violation.map { "\($0)\n\($0.trace.joined(separator: "\n"))" } ?? "")")
            // The unwindowed one serves late, past the window's measure of the goodput: its
            // invariants are those of any scenario.
            #expect(open.violation == nil || open.violation!.invariant.hasPrefix("goodput"), "\(open.violation.map { "\($0)" } ?? "")")
            if clients <= 200 {
                #expect(windowed.relayed == clients)
                #expect(windowed.waits.first! < 1_000_000_000, "the first client of a windowed burst waits under a second")
                #expect(open.waits.first! > 10_000_000_000, "without a window even the first client waits for the whole burst's creates")
            } else {
                #expect(windowed.relayed >= 380, "the windowed daemon serves at its rate for the whole budget")
                #expect(open.relayed < clients / 10, "without a window the burst collapses")
            }
        }
    }

    @Test func aSeedReplaysExactly() {
        for index in 0..<20 {
            let seed = Simulation.seed(index)
            let first = Simulation.run(seed: seed)
            let again = Simulation.run(seed: seed)
            #expect(first.steps == again.steps && first.reasons == again.reasons, "seed \(seed) did not replay")
        }
    }
}
