import GangerSimulation
import Testing

/// The deterministic simulation inside `make test`: 10,000 seeded scenarios (two halves, in
/// parallel where the runner allows; about 20 s in a debug build on one core), the seeds that
/// found bugs, and replay determinism. `make simulate` runs more.
@Suite struct SimulationTests {
    static func expectNoViolations(_ range: Range<Int>) {
        let violations = Simulation.run(range)
        for violation in violations.prefix(3) {
            Issue.record("\(violation)  (replay: SIM_SEED=\(violation.seed) make simulate)\n\(violation.trace.joined(separator: "\n"))")
        }
        #expect(violations.isEmpty, "\(violations.count) of \(range.count) scenarios broke an invariant")
    }

    @Test func scenarios0To4999_keepEveryInvariant() { Self.expectNoViolations(0..<5000) }

    @Test func scenarios5000To9999_keepEveryInvariant() { Self.expectNoViolations(5000..<10000) }

    /// Seeds that found bugs in the lifecycle (docs/testing.md lists them).
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
