@testable import GangerCore
import Testing

/// `Lifecycle.traceDecisions`: with it on, a client queued, admitted from the queue, and each
/// launch leaving the window are debug lines carrying what placement saw; with it off, none.
@Suite struct LifecycleTraceTests {
    private static let policy = Scheduler.Policy(queueMax: 10, queueTimeout: 60_000_000_000, perSourceLimit: 0)
    private static let settings = SessionMachine.Settings(
        abortOnClose: false, maxDuration: 0,
        launch: .init(readyTimeout: .seconds(10), attempts: 5, interval: .milliseconds(100), network: "bridge", holders: false))

    /// One daemon, a window of 1: client 1 launches, client 2 waits; client 1's container
    /// starts, which settles its launch and lets client 2 in.
    private func run(trace: Bool) -> [LogLine] {
        var lifecycle = Lifecycle(scheduler: Scheduler(placement: Placement(capacities: [4]), policies: [Self.policy]), publishes: [false])
        lifecycle.traceDecisions = trace
        _ = lifecycle.setLaunchWindow(LaunchWindow(minimum: 1, maximum: 1, initial: 1), now: 0)
        var actions = lifecycle.handle(.accepted(1, service: 0, source: "a", settings: Self.settings), now: 0)
        actions += lifecycle.handle(.accepted(2, service: 0, source: "b", settings: Self.settings), now: 1)
        #expect(lifecycle.sessions[2]?.phase == .queued)
        actions += lifecycle.handle(.launch(1, generation: 1, .created(id: String(repeating: "a", count: 64), holder: nil)), now: 2)
        actions += lifecycle.handle(.launch(1, generation: 1, .started), now: 3)
        #expect(lifecycle.sessions[2]?.phase == .launching)
        return actions.compactMap { if case let .log(line) = $0, line.level == .debug { line } else { nil } }
    }

    @Test func on_queuedAdmittedAndSettled_eachWithPlacement() {
        let lines = run(trace: true)
        #expect(lines.map(\.message) == ["client queued", "launch settled", "client admitted from the queue"], "\(lines)")
        #expect(lines[0].metadata["session"] == "2" && lines[0].metadata["queued"] == "[1]")
        #expect(lines[0].metadata["daemons"] == "load 1/4 launching 1/1", "\(lines[0])")
        // After the grant it made: client 2's slot is counted, its launch in the window.
        #expect(lines[1].metadata["session"] == "1" && lines[1].metadata["daemon"] == "0" && lines[1].metadata["admits"] == "1")
        #expect(lines[1].metadata["daemons"] == "load 2/4 launching 1/1" && lines[1].metadata["queued"] == "[0]", "\(lines[1])")
        #expect(lines[2].metadata["session"] == "2" && lines[2].metadata["slot"] == "daemon(0)")
    }

    @Test func off_noDebugLine() {
        #expect(run(trace: false).isEmpty)
    }
}
