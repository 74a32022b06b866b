import GangerSimulation
import Testing

@Suite struct SimulationTests {
    @Test func scenariosKeepEveryInvariant() {
        let violations = Simulation.run(0..<200)
        for violation in violations { Issue.record("\(violation)\n\(violation.trace.joined(separator: "\n"))") }
        #expect(violations.isEmpty)
    }
}
