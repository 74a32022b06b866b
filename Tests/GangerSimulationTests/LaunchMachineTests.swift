import EventLoop
import GangerCore
import Testing

/// `LaunchMachine` event by event: every fault path and what it disposes of.
@Suite struct LaunchMachineTests {
    static let ms: UInt64 = 1_000_000
    static let address = SocketAddress.v4(host: "10.0.0.7", port: 8000)
    static let running = LaunchMachine.Inspection(address: address, running: true)

    static func settings(attempts: Int = 3, readyTimeout: Duration = .seconds(5)) -> LaunchMachine.Settings {
        .init(readyTimeout: readyTimeout, attempts: attempts, interval: .milliseconds(100), network: "simnet", holders: false)
    }

    static func failure(_ message: String, transport: Bool) -> LaunchMachine.CallFailure { .init(message: message, isTransport: transport) }

    /// A machine on daemon 0 brought to probing container "c1".
    static func probing(attempts: Int = 3, publishes: Bool = false) -> LaunchMachine {
        var (machine, _) = LaunchMachine.start(settings: settings(attempts: attempts), daemon: 0, publishes: publishes, now: 0)
        _ = machine.handle(.created(id: "c1", holder: nil), now: ms)
        _ = machine.handle(.started, now: ms)
        #expect(machine.handle(.located(running), now: ms) == [.connect(address, timeout: .seconds(2))])
        return machine
    }

    static func failedReason(_ actions: [LaunchMachine.Action]) -> String? {
        actions.compactMap { if case let .failed(reason, _) = $0 { reason } else { nil } }.first
    }

    @Test func happyPath_createStartLocateConnect() {
        var (machine, first) = LaunchMachine.start(settings: Self.settings(), daemon: 2, publishes: false, now: 0)
        // Docker's calls get what the client's budget leaves (five minutes by default); after the
        // start, readiness has its own budget (five seconds here) and the window learns the latency.
        #expect(first == [.create(daemon: 2, joinHolder: false, timeout: .seconds(300))])
        #expect(machine.handle(.created(id: "c1", holder: nil), now: 1) == [.start(daemon: 2, id: "c1", timeout: .nanoseconds(300_000_000_000 - 1))])
        #expect(machine.handle(.started, now: 2) == [.launchSettled(daemon: 2, .started(latency: 2)), .locate(daemon: 2, id: "c1", timeout: .seconds(5))])
        #expect(machine.handle(.located(Self.running), now: 3) == [.connect(Self.address, timeout: .seconds(2))])
        #expect(machine.handle(.connected, now: 4) == [.succeeded(daemon: 2, id: "c1", address: Self.address, holder: nil)])
        #expect(machine.isDone)
    }

    @Test func createTransportFailure_disposesTheSlot_andMayPlaceAgain() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 1, publishes: false, now: 0)
        let failure = Self.failure("connection refused", transport: true)
        #expect(machine.handle(.createFailed(failure, holder: nil), now: 1) == [
            .daemonFailed(daemon: 1, failure), .stopWaiting, .launchSettled(daemon: 1, .failed),
            .dispose(daemon: 1, id: nil, holder: nil, clean: false),
            .failed(reason: "create failed: connection refused", placeAgain: true),
        ])
    }

    // An error status (the image gone, a full disk): Docker refused it there; no container
    // exists, so the client may go to another daemon (the lifecycle's breaker holds this one off).
    @Test func createRefused_saysSoBeforeItSettles_andMayPlaceAgain() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 1, publishes: false, now: 0)
        let refusal = LaunchMachine.CallFailure(message: "No such image: echo:latest", isTransport: false, isRefusal: true)
        #expect(machine.handle(.createFailed(refusal, holder: nil), now: 1) == [
            .daemonFailed(daemon: 1, refusal), .refused(daemon: 1, error: "create failed: No such image: echo:latest"),
            .stopWaiting, .launchSettled(daemon: 1, .failed), .dispose(daemon: 1, id: nil, holder: nil, clean: false),
            .failed(reason: "create failed: No such image: echo:latest", placeAgain: true),
        ])
    }

    // Past the client's budget a refusal ends the launch like any failure.
    @Test func createRefused_pastTheBudget_failsWithoutPlacingAgain() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 0, publishes: false, now: 0, dockerDeadline: 10)
        let refusal = LaunchMachine.CallFailure(message: "no space left on device", isTransport: false, isRefusal: true)
        let out = machine.handle(.createFailed(refusal, holder: nil), now: 20)
        #expect(out.contains(.refused(daemon: 0, error: "create failed: no space left on device")))
        #expect(out.last == .failed(reason: "Docker did not start the container within the client's budget (create failed: no space left on device)",
                                    placeAgain: false))
    }

    // Neither an answer nor silence (a local shortage, a garbled answer): not the daemon's
    // refusal, and the client is not placed again.
    @Test func createLocalError_failsWithoutPlacingAgain_orBlamingTheDaemon() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 0, publishes: false, now: 0)
        let out = machine.handle(.createFailed(Self.failure("no descriptor left", transport: false), holder: nil), now: 1)
        #expect(out.last == .failed(reason: "create failed: no descriptor left", placeAgain: false))
        #expect(!out.contains { if case .refused = $0 { true } else { false } })
    }

    // No route to the container at all (a local daemon's bridge down): a refusal at the first
    // connect, the container removed, the client free to go elsewhere; not 50 attempts.
    @Test func probeUnreachable_isARefusal_andMayPlaceAgain() {
        var machine = Self.probing()
        let out = machine.handle(.unreachable("connect to 10.0.0.7:8000: connect: Network is unreachable (errno 101)"), now: 2 * Self.ms)
        let reason = "container c1 unreachable (connect to 10.0.0.7:8000: connect: Network is unreachable (errno 101))"
        #expect(out == [.refused(daemon: 0, error: reason), .stopWaiting, .dispose(daemon: 0, id: "c1", holder: nil, clean: false),
                        .failed(reason: reason, placeAgain: true)])
    }

    // A start answered with an error: the container goes, and the client may go elsewhere; a
    // start without an answer (the container may run) still ends the launch.
    @Test func startRefused_disposesTheContainer_andMayPlaceAgain_butNotWithoutAnAnswer() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 2, publishes: false, now: 0)
        _ = machine.handle(.created(id: "c1", holder: nil), now: 1)
        let refusal = LaunchMachine.CallFailure(message: "OCI runtime create failed", isTransport: false, isRefusal: true)
        #expect(machine.handle(.startFailed(refusal), now: 2) == [
            .daemonFailed(daemon: 2, refusal), .refused(daemon: 2, error: "start failed: OCI runtime create failed"),
            .stopWaiting, .launchSettled(daemon: 2, .failed), .dispose(daemon: 2, id: "c1", holder: nil, clean: false),
            .failed(reason: "start failed: OCI runtime create failed", placeAgain: true),
        ])
        var (silent, _) = LaunchMachine.start(settings: Self.settings(), daemon: 2, publishes: false, now: 0)
        _ = silent.handle(.created(id: "c2", holder: nil), now: 1)
        let out = silent.handle(.startFailed(Self.failure("connection reset by peer", transport: true)), now: 2)
        #expect(out.last == .failed(reason: "start failed: connection reset by peer", placeAgain: false))
    }

    @Test func startPortTaken_onAPublishingDaemon_getsAFreshContainer() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 0, publishes: true, now: 0)
        _ = machine.handle(.created(id: "c1", holder: nil), now: 1)
        let failure = Self.failure("Bind for 0.0.0.0:32768 failed: port is already allocated", transport: false)
        let out = machine.handle(.startFailed(failure), now: 2)
        #expect(out.first == .daemonFailed(daemon: 0, failure))
        #expect(out.suffix(2) == [.dispose(daemon: 0, id: "c1", holder: nil, clean: false), .needSlot])
        let generation = machine.generation
        #expect(machine.handle(.slot(daemon: 1, publishes: true), now: 3) == [.create(daemon: 1, joinHolder: false, timeout: .nanoseconds(300_000_000_000 - 3))])
        #expect(machine.generation == generation + 1)
    }

    @Test func startPortTaken_onALocalDaemon_fails() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 0, publishes: false, now: 0)
        _ = machine.handle(.created(id: "c1", holder: nil), now: 1)
        let out = machine.handle(.startFailed(Self.failure("port is already allocated", transport: false)), now: 2)
        #expect(out.contains(.dispose(daemon: 0, id: "c1", holder: nil, clean: false)))
        #expect(Self.failedReason(out) == "start failed: port is already allocated")
    }

    @Test func locateWithoutAddress_fails_namingTheNetwork() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 0, publishes: false, now: 0)
        _ = machine.handle(.created(id: "c1", holder: nil), now: 1)
        _ = machine.handle(.started, now: 2)
        let out = machine.handle(.located(.init(address: nil, running: true)), now: 3)
        #expect(Self.failedReason(out) == "container c1 has no address on network simnet")
        #expect(out.contains(.dispose(daemon: 0, id: "c1", holder: nil, clean: false)))
    }

    @Test func locateOfAnExitedContainer_replacesIt() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 0, publishes: false, now: 0)
        _ = machine.handle(.created(id: "c1", holder: nil), now: 1)
        _ = machine.handle(.started, now: 2)
        let out = machine.handle(.located(.init(address: nil, running: false, exitCode: 3)), now: 3)
        #expect(out.suffix(2) == [.dispose(daemon: 0, id: "c1", holder: nil, clean: false), .needSlot])
    }

    @Test func probeExhausted_failsAfterItsAttempts() {
        var machine = Self.probing(attempts: 2)
        let backOff = machine.handle(.connectFailed("connection refused"), now: 2 * Self.ms)
        #expect(backOff == [.recheck(daemon: 0, id: "c1"), .retryAt(2 * Self.ms + 5 * Self.ms)])
        #expect(machine.handle(.rechecked(Self.running), now: 3 * Self.ms).isEmpty)
        #expect(machine.handle(.retryDue, now: 7 * Self.ms).count == 1)
        let out = machine.handle(.connectFailed("connection refused"), now: 8 * Self.ms)
        #expect(Self.failedReason(out) == "not ready after 2 attempts (connection refused)")
        #expect(out.contains(.dispose(daemon: 0, id: "c1", holder: nil, clean: false)))
    }

    @Test func settleHungUp_retries_thenFails() {
        var machine = Self.probing(attempts: 2, publishes: true)
        #expect(machine.handle(.connected, now: 2 * Self.ms) == [.settle])
        #expect(machine.handle(.settled(hungUp: true), now: 3 * Self.ms).first == .recheck(daemon: 0, id: "c1"))
        _ = machine.handle(.retryDue, now: 10 * Self.ms)
        #expect(machine.handle(.connected, now: 11 * Self.ms) == [.settle])
        let out = machine.handle(.settled(hungUp: true), now: 12 * Self.ms)
        #expect(Self.failedReason(out) == "not ready after 2 attempts (the published port's proxy closed each connection)")
    }

    @Test func settleQuiet_succeeds() {
        var machine = Self.probing(publishes: true)
        _ = machine.handle(.connected, now: 2 * Self.ms)
        #expect(machine.handle(.settled(hungUp: false), now: 3 * Self.ms) == [.succeeded(daemon: 0, id: "c1", address: Self.address, holder: nil)])
    }

    @Test func diedWhileProbing_isReplaced_orFailsWithoutCapacity() {
        var machine = Self.probing()
        let out = machine.handle(.died(exitCode: 137, oomKilled: true), now: 2 * Self.ms)
        #expect(out.first == .stopWaiting)
        #expect(out.suffix(2) == [.dispose(daemon: 0, id: "c1", holder: nil, clean: false), .needSlot])
        let end = machine.handle(.slot(daemon: nil, publishes: false), now: 3 * Self.ms)
        #expect(end == [.failed(reason: "container exited before it served (exit code 137, out of memory); no capacity to retry", placeAgain: false)])
    }

    @Test func recheckOfAnExitedContainer_whileBackingOff_replacesIt() {
        var machine = Self.probing()
        _ = machine.handle(.connectFailed("connection refused"), now: 2 * Self.ms)
        let out = machine.handle(.rechecked(.init(address: nil, running: false, exitCode: 1)), now: 3 * Self.ms)
        #expect(out.last == .needSlot)
    }

    @Test func readyTimeout_endsProbing() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(readyTimeout: .milliseconds(10)), daemon: 0, publishes: false, now: 0)
        _ = machine.handle(.created(id: "c1", holder: nil), now: Self.ms)
        _ = machine.handle(.started, now: Self.ms)
        let out = machine.handle(.located(Self.running), now: 20 * Self.ms)
        #expect(Self.failedReason(out) == "not ready within 0.01 seconds")
    }

    @Test func cancelDuringCreate_disposesWhatTheCreateMade() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 3, publishes: false, now: 0)
        #expect(machine.handle(.cancel, now: 1).isEmpty)
        #expect(!machine.isDone)
        #expect(machine.handle(.created(id: "c9", holder: nil), now: 2) == [
            .launchSettled(daemon: 3, .abandoned), .dispose(daemon: 3, id: "c9", holder: nil, clean: false),
        ])
        #expect(machine.isDone)
    }

    @Test func cancelDuringCreate_thenTransportFailure_freesTheSlot() {
        var (machine, _) = LaunchMachine.start(settings: Self.settings(), daemon: 3, publishes: false, now: 0)
        _ = machine.handle(.cancel, now: 1)
        let failure = Self.failure("timed out", transport: true)
        #expect(machine.handle(.createFailed(failure, holder: nil), now: 2) == [
            .daemonFailed(daemon: 3, failure), .launchSettled(daemon: 3, .failed), .dispose(daemon: 3, id: nil, holder: nil, clean: false),
        ])
    }

    @Test func cancelWhileProbing_disposesTheContainer() {
        var machine = Self.probing()
        #expect(machine.handle(.cancel, now: 2 * Self.ms) == [.stopWaiting, .dispose(daemon: 0, id: "c1", holder: nil, clean: false)])
        #expect(machine.handle(.connected, now: 3 * Self.ms).isEmpty)
    }

    @Test func answerOfAnOlderContainer_isDropped() {
        var machine = Self.probing()
        let old = machine.generation
        _ = machine.handle(.died(exitCode: 1, oomKilled: false), now: 2 * Self.ms)
        _ = machine.handle(.slot(daemon: 0, publishes: false), now: 3 * Self.ms)
        #expect(machine.handle(.connected, generation: old, now: 4 * Self.ms).isEmpty)
        // The replacement must be up within the readiness budget counted from the first start (1 ms).
        #expect(machine.handle(.created(id: "c2", holder: nil), generation: old + 1, now: 5 * Self.ms)
            == [.start(daemon: 0, id: "c2", timeout: .nanoseconds(5_000_000_000 + Int64(Self.ms) - Int64(5 * Self.ms)))])
    }
}
