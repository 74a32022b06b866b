import EventLoop
@testable import GangerCore
import Glibc
import Synchronization
import Testing
import TestSupport

/// What `ganger run` does on its signals, reached without the binary: the pure mapping, the
/// reaper on a child of the test's own, and `SignalHandler` driving a real (unstarted) supervisor.
@Suite struct SignalHandlingTests {
    @Test func policy_termThenAnyShutdownSignal_isNow_andHUPIsIgnoredOnceShuttingDown() {
        var policy = SignalPolicy()
        #expect(policy.action(for: SIGHUP) == .reload)
        #expect(policy.action(for: SIGCHLD) == .reap)
        #expect(policy.action(for: SIGUSR1) == .ignore)
        #expect(!policy.shuttingDown)
        #expect(policy.action(for: SIGTERM) == .shutdown)
        #expect(policy.shuttingDown)
        #expect(policy.action(for: SIGHUP) == .ignore)
        #expect(policy.action(for: SIGCHLD) == .reap)
        #expect(policy.action(for: SIGINT) == .shutdownNow)
        #expect(policy.action(for: SIGTERM) == .shutdownNow)
    }

    @Test func policy_intFirst_isAGracefulShutdown() {
        var policy = SignalPolicy()
        #expect(policy.action(for: SIGINT) == .shutdown)
        #expect(policy.action(for: SIGINT) == .shutdownNow)
    }

    @Test func policy_handlesExactlyTheSignalsMainBlocks() {
        #expect(Set(SignalPolicy.handled) == [SIGTERM, SIGINT, SIGHUP, SIGCHLD])
    }

    /// Only this test's own child is waited for: other tests in this process have children too.
    @Test func reaper_collectsAnExitedChild_andLeavesARunningOneAlone() throws {
        let running = try spawn(["/bin/sleep", "30"])
        #expect(Reaper.reapExited(running) == 0, "a running child was reaped")
        kill(running, SIGKILL)
        let exited = try spawn(["/bin/sh", "-c", "exit 3"])
        var reaped = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while reaped == 0, ContinuousClock.now < deadline {
            reaped = Reaper.reapExited(exited)
            if reaped == 0 { usleep(10_000) }
        }
        #expect(reaped == 1, "the exited child was not reaped within 10 s")
        #expect(waitpid(exited, nil, WNOHANG) == -1 && errno == ECHILD, "the child is still waitable after reaping")
        var killedReaped = 0
        while killedReaped == 0, ContinuousClock.now < deadline + .seconds(5) {
            killedReaped = Reaper.reapExited(running)
            if killedReaped == 0 { usleep(10_000) }
        }
        #expect(killedReaped == 1, "the killed child was not reaped")
    }

    @Test func handler_reloadsFromItsFile_shutsDownOnce_thenNow_andReportsStopped() async throws {
        let fixture = try await SupervisorFixture(SupervisorReloadTests.twoServices)
        try await fixture.listenAll()
        let bad = try fixture.writeConfig("  - name: a\n    image: x\n", name: "bad.yml")
        let stopped = Atomic<Int>(0)
        let handler = LoopBox<SignalHandler?>(nil)
        let supervisor = fixture.supervisor
        try await fixture.loop.run { reactor in
            handler.value = try SignalHandler(reactor: reactor, supervisor: supervisor.value!, file: bad, environment: [:]) {
                stopped.add(1, ordering: .relaxed)
            }
        }
        let config = try await fixture.config()
        #expect(try await fixture.loop.run { _ in handler.value!.handle(SIGHUP) } == .reload)
        #expect(fixture.logs.matching("reload refused").count >= 1, "\(fixture.logs.all)")
        #expect(fixture.logs.matching("reload refused").allSatisfy { $0.contains(bad) }, "\(fixture.logs.all)")
        #expect(try await fixture.config() == config)
        // No SIGCHLD here: its reaping takes any exited child of the process, and other tests
        // wait for theirs (the mapping and the reaper are tested above, apart).

        #expect(try await fixture.loop.run { _ in handler.value!.handle(SIGTERM) } == .shutdown)
        #expect(try await fixture.listeners().values.allSatisfy { $0.id == nil }, "listeners still open after SIGTERM")
        #expect(try await fixture.loop.run { _ in handler.value!.handle(SIGHUP) } == .ignore)
        #expect(fixture.logs.matching("SIGHUP ignored: shutting down").count == 1)
        #expect(try await fixture.loop.run { _ in handler.value!.handle(SIGINT) } == .shutdownNow)
        #expect(fixture.logs.matching("second signal").count == 1, "\(fixture.logs.all)")
        // No session and no container: the shutdown completes (its last sweep fails: no Docker).
        #expect(try await fixture.loop.wait(timeout: .seconds(15)) { _ in stopped.load(ordering: .relaxed) == 1 }, "\(fixture.logs.all)")
        try await fixture.loop.run { _ in handler.value = nil }
        try await fixture.tearDown()
    }

    @Test func handler_withoutAFile_ignoresHUP_withANotice() async throws {
        let fixture = try await SupervisorFixture(SupervisorReloadTests.twoServices)
        let handler = LoopBox<SignalHandler?>(nil)
        let supervisor = fixture.supervisor
        let action = try await fixture.loop.run { reactor in
            handler.value = try SignalHandler(reactor: reactor, supervisor: supervisor.value!, file: nil, environment: [:]) {}
            return handler.value!.handle(SIGHUP)
        }
        #expect(action == .reload)
        #expect(fixture.logs.matching("SIGHUP ignored: this run has no configuration file").count == 1)
        try await fixture.loop.run { _ in handler.value = nil }
        try await fixture.tearDown()
    }
}

/// posix_spawn (the test process has many threads) of `argv`; returns the child's pid.
private func spawn(_ argv: [String]) throws -> pid_t {
    let arguments = argv.map { strdup($0) } + [nil]
    defer { arguments.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], nil, nil, arguments, environ)
    guard rc == 0 else { throw ProcessFailure(description: "posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
    return pid
}
