import EventLoop
import GangerCore
import Testing

/// `Lifecycle` driven by hand with a manual clock: each test is the exact event sequence.
@Suite struct LifecycleMachineTests {
    static let ms: UInt64 = 1_000_000
    static let address = SocketAddress.v4(host: "10.0.0.9", port: 8000)

    static func settings(abortOnClose: Bool = false, maxDuration: UInt64 = 0, readyTimeout: Duration = .seconds(5),
                         attempts: Int = 3) -> SessionMachine.Settings {
        SessionMachine.Settings(abortOnClose: abortOnClose, maxDuration: maxDuration,
                                launch: .init(readyTimeout: readyTimeout, attempts: attempts, interval: .milliseconds(100),
                                              network: "sim", holders: false))
    }

    static func lifecycle(capacities: [Int], queueMax: Int = 4, queueTimeout: UInt64 = 0, perSource: Int = 0) -> Lifecycle {
        let policy = Scheduler.Policy(queueMax: queueMax, queueTimeout: queueTimeout, perSourceLimit: perSource)
        return Lifecycle(scheduler: Scheduler(placement: Placement(capacities: capacities), policies: [policy]),
                         publishes: capacities.map { _ in false })
    }

    static let transport = LaunchMachine.CallFailure(message: "connection reset by peer", isTransport: true)

    /// The launch actions of `client` in `actions`, with their generation.
    static func launches(_ actions: [Lifecycle.Action], _ client: UInt64) -> [(Int, LaunchMachine.Action)] {
        actions.compactMap { if case let .launch(id, generation, action) = $0, id == client { (generation, action) } else { nil } }
    }

    static func creates(_ actions: [Lifecycle.Action]) -> [Int] {
        actions.compactMap { if case let .launch(_, _, .create(daemon, _, _)) = $0 { daemon } else { nil } }
    }

    static func ends(_ actions: [Lifecycle.Action]) -> [(UInt64, Lifecycle.End)] {
        actions.compactMap { if case let .ended(id, end) = $0 { (id, end) } else { nil } }
    }

    /// Brings `client`, whose launch began with `generation`, to relaying: created, started,
    /// located, connected.
    static func launch(_ life: inout Lifecycle, _ client: UInt64, id: String? = nil, generation: Int, now: UInt64) -> [Lifecycle.Action] {
        [.created(id: id ?? "c\(client)", holder: nil), .started, .located(.init(address: address, running: true)), .connected]
            .flatMap { (event: LaunchMachine.Event) in life.handle(.launch(client, generation: generation, event), now: now) }
    }

    /// Accepts `client` from `source` and returns its actions and its launch's generation (if any).
    static func accept(_ life: inout Lifecycle, _ client: UInt64, source: String = "s", settings: SessionMachine.Settings = settings(),
                       now: UInt64 = 0) -> ([Lifecycle.Action], Int) {
        let out = life.handle(.accepted(client, service: 0, source: source, settings: settings), now: now)
        return (out, launches(out, client).first?.0 ?? 0)
    }

    // Regression (simulation, seed 7345697300389051472): `.daemonFailed` was only an action for
    // the driver, so the readmission computed in the same batch placed the client back on the
    // daemon whose create had just got no answer.
    @Test func createTransportFailure_readmitsOnAnotherDaemon() {
        var life = Self.lifecycle(capacities: [2, 2])
        let (first, generation) = Self.accept(&life, 1, source: "a")
        #expect(Self.creates(first) == [0])
        #expect(Self.creates(Self.accept(&life, 2, source: "b").0) == [1])
        let out = life.handle(.launch(1, generation: generation, .createFailed(Self.transport, holder: nil)), now: 10 * Self.ms)
        #expect(Self.creates(out) == [1])
        #expect(out.contains(.launch(1, generation: generation, .dispose(daemon: 0, id: nil, holder: nil, clean: false))))
        #expect(life.scheduler.placement.daemons[0].healthy == false)
        #expect(Self.ends(out).isEmpty)
    }

    // Issue 19: Docker's part of a launch is bounded by the client's budget (`queue.timeout`),
    // readiness counts from the first start; a client that waited in the queue longer than its
    // `ready.timeout` and whose create got no answer was closed instead of placed again, by a
    // check of the readiness budget from its connect that the launch machine no longer uses.
    @Test func createTransportFailure_afterALongQueueWait_readmitsWithinTheClientBudget() {
        var life = Self.lifecycle(capacities: [1, 1], queueTimeout: 60_000 * Self.ms)
        let settings = SessionMachine.Settings(abortOnClose: false, maxDuration: 0,
                                               launch: .init(readyTimeout: .seconds(10), attempts: 3, interval: .milliseconds(100),
                                                             network: "sim", holders: false),
                                               clientBudget: 60_000 * Self.ms)
        let (_, first) = Self.accept(&life, 1, source: "a", settings: settings)
        #expect(Self.creates(Self.accept(&life, 2, source: "b", settings: settings).0) == [1])
        #expect(Self.accept(&life, 3, source: "c", settings: settings).0.isEmpty)
        #expect(life.sessions[3]?.phase == .queued)
        // 20 s later client 1's create fails with an answer: its slot frees and client 3 goes.
        let error = LaunchMachine.CallFailure(message: "no such image", isTransport: false)
        _ = life.handle(.launch(1, generation: first, .createFailed(error, holder: nil)), now: 20_000 * Self.ms)
        let granted = life.handle(.slotFreed(daemon: 0), now: 20_000 * Self.ms)
        #expect(Self.creates(granted) == [0])
        let generation = Self.launches(granted, 3).first?.0 ?? 0
        let out = life.handle(.launch(3, generation: generation, .createFailed(Self.transport, holder: nil)), now: 20_100 * Self.ms)
        #expect(Self.ends(out).isEmpty, "\(Self.ends(out).map(\.1.reason))")
        #expect(life.sessions[3]?.phase == .queued)
    }

    // Regression (simulation, seed 17642316490568446823): a launching session whose service a
    // reload removed (service -1) was readmitted after a transport failure: `Scheduler.readmit`
    // indexed the services with -1 and trapped. It ends with the launch's reason now.
    @Test func createTransportFailure_afterItsServiceWasRemoved_endsTheSession() {
        var life = Self.lifecycle(capacities: [1])
        let (_, generation) = Self.accept(&life, 1)
        let policy = Scheduler.Policy(queueMax: 2, queueTimeout: 0, perSourceLimit: 0)
        #expect(life.reconfigure(policies: [policy], previous: [nil], now: Self.ms).isEmpty)
        #expect(life.sessions[1]?.service == -1)
        let out = life.handle(.launch(1, generation: generation, .createFailed(Self.transport, holder: nil)), now: 2 * Self.ms)
        #expect(Self.ends(out).map(\.1.reason) == ["create failed: connection reset by peer"])
        #expect(life.sessions.isEmpty)
        #expect(life.scheduler.queued(0) == 0)
    }

    // Regression (simulation, seed 348797353477552826): a launch after a readmission started its
    // generations at 0 again (and `LaunchMachine.start` returned a copy made before its first
    // `create`), so a recheck still in flight for the failed launch's dead container carried the
    // new launch's generation and replaced its healthy container.
    @Test func staleRecheckOfAnEarlierLaunch_doesNotReplaceTheNewContainer() {
        var life = Self.lifecycle(capacities: [1, 1])
        let (first, g1) = Self.accept(&life, 1)
        #expect(Self.creates(first) == [0])
        var out = [LaunchMachine.Event.created(id: "c1", holder: nil), .started, .located(.init(address: Self.address, running: true)),
                   .connectFailed("connection refused")].flatMap { life.handle(.launch(1, generation: g1, $0), now: Self.ms) }
        #expect(out.contains(.launch(1, generation: g1, .recheck(daemon: 0, id: "c1"))))
        // c1 dies: replaced on daemon 1 (daemon 0's slot is held until c1 is removed).
        out = life.handle(.containerDied(containerID: "c1", exitCode: 1, oom: false), now: 2 * Self.ms)
        #expect(Self.creates(out) == [1])
        let g2 = Self.launches(out, 1).last?.0 ?? -1
        #expect(g2 != g1)
        _ = life.handle(.slotFreed(daemon: 0), now: 3 * Self.ms)
        // Daemon 1 does not answer: placed again on daemon 0, a new launch.
        out = life.handle(.launch(1, generation: g2, .createFailed(Self.transport, holder: nil)), now: 4 * Self.ms)
        #expect(Self.creates(out) == [0])
        let g3 = Self.launches(out, 1).last?.0 ?? -1
        #expect(g3 != g1 && g3 != g2)
        out = [LaunchMachine.Event.created(id: "c3", holder: nil), .started, .located(.init(address: Self.address, running: true)),
               .connectFailed("connection refused")].flatMap { life.handle(.launch(1, generation: g3, $0), now: 5 * Self.ms) }
        // The recheck of c1 answers only now: it must not touch c3.
        out = life.handle(.launch(1, generation: g1, .rechecked(.init(address: nil, running: false, exitCode: 1))), now: 6 * Self.ms)
        #expect(out.isEmpty)
        #expect(life.sessions[1]?.containerID == "c3")
    }

    @Test func firstCreate_carriesTheGenerationOfTheReturnedMachine() {
        let settings = Self.settings().launch
        let (machine, actions) = LaunchMachine.start(settings: settings, daemon: 0, publishes: false, now: 0, after: 4)
        #expect(machine.generation == 5)
        #expect(actions == [.create(daemon: 0, joinHolder: false, timeout: .seconds(300))])
    }

    // Regression (simulation, seed 17164824017004778296): the death of a container the launch
    // replaced left its exit code on the session, and the relay on the replacement ended with
    // "client closed (container: exit code 2)".
    @Test func replacedContainersExitCode_isNotInTheEndReason() {
        var life = Self.lifecycle(capacities: [2])
        let (_, g1) = Self.accept(&life, 1)
        _ = [LaunchMachine.Event.created(id: "c1", holder: nil), .started, .located(.init(address: Self.address, running: true)),
             .connectFailed("connection refused")].flatMap { life.handle(.launch(1, generation: g1, $0), now: Self.ms) }
        var out = life.handle(.containerDied(containerID: "c1", exitCode: 2, oom: false), now: 2 * Self.ms)
        #expect(out.contains(.launch(1, generation: g1, .dispose(daemon: 0, id: "c1", holder: nil, clean: false))))
        let g2 = Self.launches(out, 1).last?.0 ?? -1
        out = Self.launch(&life, 1, id: "c2", generation: g2, now: 3 * Self.ms)
        #expect(out.contains(.startRelay(1)))
        out = life.handle(.relayEnded(1, reason: "client closed"), now: 4 * Self.ms)
        #expect(Self.ends(out).map(\.1.reason) == ["client closed"])
        #expect(out.contains(.dispose(daemon: 0, id: "c2", holder: nil, clean: true)))
    }

    @Test func relayedContainersDeath_isInTheEndReason() {
        var life = Self.lifecycle(capacities: [1])
        let (_, generation) = Self.accept(&life, 1)
        #expect(Self.launch(&life, 1, generation: generation, now: Self.ms).contains(.startRelay(1)))
        #expect(life.handle(.containerDied(containerID: "c1", exitCode: 137, oom: true), now: 2 * Self.ms).isEmpty)
        #expect(life.handle(.containerDied(containerID: "c1", exitCode: 137, oom: false), now: 2 * Self.ms).isEmpty)
        let out = life.handle(.relayEnded(1, reason: "service closed"), now: 3 * Self.ms)
        #expect(Self.ends(out).map(\.1.reason) == ["service closed (container: out of memory)"])
        #expect(out.contains(.dispose(daemon: 0, id: "c1", holder: nil, clean: true)))
    }

    @Test func queuedFIN_keepsItsPlace_byDefault() {
        var life = Self.lifecycle(capacities: [1])
        _ = Self.accept(&life, 1)
        #expect(Self.accept(&life, 2).0.isEmpty)
        #expect(life.handle(.clientFIN(2), now: Self.ms).isEmpty)
        #expect(life.sessions[2]?.clientFIN == true)
        #expect(Self.creates(life.handle(.slotFreed(daemon: 0), now: 2 * Self.ms)) == [0])
    }

    @Test func queuedFIN_withAbortOnClose_leavesTheQueue() {
        var life = Self.lifecycle(capacities: [1])
        _ = Self.accept(&life, 1)
        _ = Self.accept(&life, 2, settings: Self.settings(abortOnClose: true))
        let out = life.handle(.clientFIN(2), now: Self.ms)
        #expect(Self.ends(out).map(\.1.reason) == ["client left while queued"])
        #expect(life.scheduler.queued(0) == 0)
        #expect(life.scheduler.perSource(0, "s") == 1)
        #expect(Self.creates(life.handle(.slotFreed(daemon: 0), now: 2 * Self.ms)).isEmpty)
    }

    @Test func transportFailure_withNoOtherDaemon_queuesAgain_thenLaunches() {
        var life = Self.lifecycle(capacities: [1])
        let (_, generation) = Self.accept(&life, 1)
        let out = life.handle(.launch(1, generation: generation, .createFailed(Self.transport, holder: nil)), now: Self.ms)
        #expect(Self.ends(out).isEmpty)
        #expect(life.sessions[1]?.phase == .queued)
        #expect(life.scheduler.queued(0) == 1)
        _ = life.handle(.slotFreed(daemon: 0), now: 2 * Self.ms)
        #expect(Self.creates(life.setHealthy(0, true, now: 3 * Self.ms)) == [0])
    }

    @Test func queueTimeout_endsTheWaitOnTick() {
        var life = Self.lifecycle(capacities: [1], queueTimeout: 100 * Self.ms)
        _ = Self.accept(&life, 1)
        _ = Self.accept(&life, 2, now: Self.ms)
        #expect(life.nextDeadline == 101 * Self.ms)
        let out = life.handle(.tick, now: 101 * Self.ms)
        #expect(Self.ends(out).map(\.1.kind) == [.queueTimeout])
        #expect(life.scheduler.sourcesCounted(0) == 1)
    }

    @Test func maxDuration_closesTheRelay_thenEndsAsRelayed() {
        var life = Self.lifecycle(capacities: [1])
        let (_, generation) = Self.accept(&life, 1, settings: Self.settings(maxDuration: 50 * Self.ms))
        _ = Self.launch(&life, 1, generation: generation, now: Self.ms)
        #expect(life.nextDeadline == 51 * Self.ms)
        #expect(life.handle(.tick, now: 51 * Self.ms) == [.closeRelay(1, why: "max duration")])
        let out = life.handle(.relayEnded(1, reason: "max duration"), now: 52 * Self.ms)
        #expect(Self.ends(out).map(\.1.kind) == [.relayed])
        #expect(out.contains(.dispose(daemon: 0, id: "c1", holder: nil, clean: true)))
        #expect(life.nextDeadline == nil)
    }

    @Test func warmContainer_isTaken_andGivenBack() {
        var life = Self.lifecycle(capacities: [1])
        #expect(life.handle(.warmAdded(service: 0), now: 0).isEmpty)
        #expect(Self.accept(&life, 1).0 == [.takeWarm(1, service: 0)])
        #expect(life.handle(.warmTaken(1, daemon: 0, containerID: "w1"), now: 1) == [.startRelay(1)])
        let out = life.handle(.relayEnded(1, reason: "client closed"), now: 2)
        #expect(out.first == .giveBackWarm(1, daemon: 0, containerID: "w1"))
    }

    @Test func warmContainerGoneMeanwhile_endsTheSession() {
        var life = Self.lifecycle(capacities: [1])
        _ = life.handle(.warmAdded(service: 0), now: 0)
        _ = Self.accept(&life, 1)
        let out = life.handle(.warmTaken(1, daemon: nil, containerID: ""), now: 1)
        #expect(Self.ends(out).map(\.1.reason) == ["pooled connection lost"])
        #expect(life.scheduler.sourcesCounted(0) == 0)
    }

    @Test func clientLeftDuringCreate_theCreatedContainerIsRemoved() {
        var life = Self.lifecycle(capacities: [1])
        let (_, generation) = Self.accept(&life, 1)
        let out = life.handle(.clientLeft(1, detail: "reset"), now: Self.ms)
        #expect(Self.ends(out).map(\.1.reason) == ["client left (reset)"])
        #expect(life.abandoned[.init(client: 1, generation: generation)] != nil)
        #expect(life.handle(.launch(1, generation: generation, .created(id: "c1", holder: nil)), now: 2 * Self.ms) == [
            .launch(1, generation: generation, .dispose(daemon: 0, id: "c1", holder: nil, clean: false)),
        ])
        #expect(life.abandoned.isEmpty)
    }

    // A frozen dockerd (SIGSTOP, a deadlock) answers nothing: the health check marks it down
    // after a few seconds, and the clients whose launches wait on its create or start are placed
    // on another daemon then, not after `docker_timeout` (five minutes by default).
    @Test func daemonMarkedDown_launchesWaitingOnItArePlacedAgainAtOnce_whatItMadeIsDisposedOf() {
        var life = Self.lifecycle(capacities: [3, 3])
        let (first, g1) = Self.accept(&life, 1, source: "a")
        #expect(Self.creates(first) == [0])
        #expect(Self.creates(Self.accept(&life, 2, source: "b").0) == [1])
        let (third, g3) = Self.accept(&life, 3, source: "c")
        #expect(Self.creates(third) == [0])
        // Client 3's create answered, its start is out; client 1's create is out.
        let started = Self.launches(life.handle(.launch(3, generation: g3, .created(id: "c3", holder: nil)), now: Self.ms), 3)
        guard case .start(daemon: 0, id: "c3", _)? = started.first?.1 else { Issue.record("\(started)"); return }

        let out = life.handle(.tick, now: 2 * Self.ms) + life.setHealthy(0, false, now: 2 * Self.ms)
        // Both placed on daemon 1 at once; client 3's container is removed now, client 1's
        // create stays abandoned until it answers.
        #expect(Self.creates(out) == [1, 1], "\(out)")
        #expect(Self.launches(out, 3).contains { $0 == (g3, .dispose(daemon: 0, id: "c3", holder: nil, clean: false)) }, "\(out)")
        #expect(life.abandoned.keys.sorted() == [.init(client: 1, generation: g1)])
        #expect(Self.ends(out).isEmpty)
        let next1 = try! #require(Self.launches(out, 1).last?.0)
        #expect(next1 > g1)

        // The abandoned create answers after all: that container goes, the new launch goes on.
        #expect(life.handle(.launch(1, generation: g1, .created(id: "late", holder: nil)), now: 3 * Self.ms) == [
            .launch(1, generation: g1, .dispose(daemon: 0, id: "late", holder: nil, clean: false)),
        ])
        #expect(life.abandoned.isEmpty)
        _ = Self.launch(&life, 1, id: "new1", generation: next1, now: 4 * Self.ms)
        #expect(life.sessions[1]?.phase == .relaying)
        #expect(life.sessions[1]?.containerID == "new1")
    }

    // Regression (simulation, seed 9689798359972826197): the container of a launch still
    // locating died (exit code 0), then its daemon went down; the session, placed again and
    // relayed in another container, ended with "(container: exit code 0)" about the first one.
    @Test func placedAgainOffADownDaemon_theGivenUpContainersNoteIsNotInTheEndReason() {
        var life = Self.lifecycle(capacities: [1, 1])
        let (_, g1) = Self.accept(&life, 1)
        _ = life.handle(.launch(1, generation: g1, .created(id: "c1", holder: nil)), now: Self.ms)
        _ = life.handle(.launch(1, generation: g1, .started), now: 2 * Self.ms)
        _ = life.handle(.containerDied(containerID: "c1", exitCode: 0, oom: false), now: 3 * Self.ms)
        let out = life.setHealthy(0, false, now: 4 * Self.ms)
        #expect(Self.creates(out) == [1], "\(out)")
        let g2 = try! #require(Self.launches(out, 1).last?.0)
        _ = Self.launch(&life, 1, id: "c2", generation: g2, now: 5 * Self.ms)
        let ended = life.handle(.relayEnded(1, reason: "client closed"), now: 6 * Self.ms)
        #expect(Self.ends(ended).map(\.1.reason) == ["client closed"])
    }

    // A create that got no answer names the container it may have made: the launch disposes of
    // that name (the slot is freed once it is gone), and the client does not wait for it.
    @Test func createWithoutAnswer_disposesOfItsName_andTheClientIsPlacedAgainAtOnce() {
        var life = Self.lifecycle(capacities: [2, 2])
        let (_, generation) = Self.accept(&life, 1)
        let out = life.handle(.launch(1, generation: generation, .createFailed(Self.transport, holder: nil, maybeMade: "ganger-x-1")),
                              now: Self.ms)
        #expect(Self.launches(out, 1).contains { $0.1 == .dispose(daemon: 0, id: "ganger-x-1", holder: nil, clean: false) }, "\(out)")
        #expect(Self.creates(out) == [1])

        // Abandoned (the client left), then the create fails without an answer: the same.
        let (_, g2) = Self.accept(&life, 2, source: "b")
        _ = life.handle(.clientLeft(2, detail: "reset"), now: 2 * Self.ms)
        #expect(life.handle(.launch(2, generation: g2, .createFailed(Self.transport, holder: nil, maybeMade: "ganger-x-2")), now: 3 * Self.ms)
            .contains(.launch(2, generation: g2, .dispose(daemon: 1, id: "ganger-x-2", holder: nil, clean: false))))
    }

    @Test func drainThenCloseAll_endsEverySession() {
        var life = Self.lifecycle(capacities: [1])
        let (_, generation) = Self.accept(&life, 1)
        _ = Self.launch(&life, 1, generation: generation, now: Self.ms)
        _ = Self.accept(&life, 2)
        let drained = life.drain(now: 2 * Self.ms)
        #expect(Self.ends(drained).map(\.0) == [2])
        #expect(life.closeAll("shutting down", now: 3 * Self.ms) == [.closeRelay(1, why: "shutting down")])
        #expect(Self.ends(life.handle(.relayEnded(1, reason: "shutting down"), now: 4 * Self.ms)).map(\.0) == [1])
        #expect(Self.ends(Self.accept(&life, 3).0).map(\.1.kind) == [.refused(.draining)])
        #expect(life.sessions.isEmpty)
    }

    // Regression (simulation, seed 18113121969857652268, a known issue until the scheduler
    // evicted): ready warm containers of one service held every slot while a client of another
    // service waited; nothing freed one, so without a queue timeout the client waited forever.
    @Test func warmContainersOfAnotherService_areEvictedForAWaitingClient() {
        let policy = Scheduler.Policy(queueMax: 4, queueTimeout: 0, perSourceLimit: 0)
        var life = Lifecycle(scheduler: Scheduler(placement: Placement(capacities: [1]), policies: [policy, policy]), publishes: [false])
        #expect(life.acquireForPool() == 0)
        #expect(life.handle(.warmAdded(service: 1), now: 0).isEmpty)
        let out = life.handle(.accepted(1, service: 0, source: "s", settings: Self.settings()), now: Self.ms)
        #expect(life.sessions[1]?.phase == .queued)
        #expect(out == [.evictWarm(service: 1)])
        #expect(life.scheduler.warm(1) == 0)
        // A second event before the slot is free asks for nothing more: one eviction covers one client.
        #expect(life.handle(.tick, now: 2 * Self.ms).isEmpty)
        // The evicted container is gone: its slot goes to the waiting client, whose launch begins.
        let freed = life.handle(.slotFreed(daemon: 0), now: 3 * Self.ms)
        #expect(Self.creates(freed) == [0])
        #expect(life.sessions[1]?.phase == .launching)
        #expect(life.scheduler.evicting == 0)
    }

    // Regression (simulation, seeds 10168208605290501242 and 1079516233698480060): the daemon
    // holding the warm container left the discovered set, a client queued meanwhile, and the
    // daemon's return (a control call, not an event) asked for no eviction: the client waited
    // for ever.
    @Test func aDaemonsReturn_evictsForAClientThatQueuedWhileItWasAway() {
        let policy = Scheduler.Policy(queueMax: 4, queueTimeout: 0, perSourceLimit: 0)
        var life = Lifecycle(scheduler: Scheduler(placement: Placement(capacities: [1]), policies: [policy, policy]), publishes: [false])
        #expect(life.acquireForPool() == 0)
        _ = life.handle(.warmAdded(service: 1), now: 0)
        #expect(life.setRetired(0, true, now: Self.ms).isEmpty)
        let queued = life.handle(.accepted(1, service: 0, source: "s", settings: Self.settings()), now: 2 * Self.ms)
        #expect(queued.isEmpty && life.sessions[1]?.phase == .queued)
        #expect(life.setRetired(0, false, now: 3 * Self.ms) == [.evictWarm(service: 1)])
    }

    @Test func warmContainers_areNotEvictedWhileTheLaunchWindowAloneHoldsClientsBack() {
        let policy = Scheduler.Policy(queueMax: 4, queueTimeout: 0, perSourceLimit: 0)
        var life = Lifecycle(scheduler: Scheduler(placement: Placement(capacities: [3]), policies: [policy, policy]), publishes: [false])
        _ = life.setLaunchWindow(LaunchWindow(minimum: 1, maximum: 1, initial: 1), now: 0)
        #expect(life.acquireForPool() == 0)
        _ = life.launchSettled(0, .started(latency: Self.ms), now: 0)
        #expect(life.handle(.warmAdded(service: 1), now: 0).isEmpty)
        let (first, _) = Self.accept(&life, 1)
        #expect(Self.creates(first) == [0])
        // Room under the cap, but the window (1) is full: the second client waits for the
        // first launch to settle, and the idle warm container of service 1 stays.
        let second = life.handle(.accepted(2, service: 0, source: "t", settings: Self.settings()), now: Self.ms)
        #expect(life.sessions[2]?.phase == .queued)
        #expect(!second.contains(.evictWarm(service: 1)))
        #expect(life.scheduler.warm(1) == 1)
    }

    @Test func warmContainersOfTheWaitingClientsOwnService_areTakenNotEvicted() {
        let policy = Scheduler.Policy(queueMax: 4, queueTimeout: 0, perSourceLimit: 0)
        var life = Lifecycle(scheduler: Scheduler(placement: Placement(capacities: [1]), policies: [policy]), publishes: [false])
        #expect(life.acquireForPool() == 0)
        _ = life.handle(.warmAdded(service: 0), now: 0)
        let out = life.handle(.accepted(1, service: 0, source: "s", settings: Self.settings()), now: Self.ms)
        #expect(out == [.takeWarm(1, service: 0)])
    }
}
