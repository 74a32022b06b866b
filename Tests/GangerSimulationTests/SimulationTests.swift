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
    ])
    func regressionSeed_keepsEveryInvariant(seed: UInt64) {
        let outcome = Simulation.run(seed: seed)
        #expect(outcome.violation == nil, "\(outcome.violation.map { "\($0)\n\($0.trace.joined(separator: "\n"))" } ?? "")")
        #expect(outcome.clients > 0)
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
