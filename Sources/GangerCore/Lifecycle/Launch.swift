import EventLoop
import Logging

/// What a warm pool's launch needs besides its I/O: slots, disposal, holders, daemon health.
protocol LaunchOwner: LaunchEnvironment {
    var logger: Logger { get }
    /// A slot for a fresh container after a failed one (nil: no capacity).
    func acquireSlot() -> Int?
    /// Removes `id` (if any), then frees its slot and releases the holder.
    func dispose(daemon: Int, id: String?, holder: LaunchMachine.HolderRef?, clean: Bool)
    func holderJoined(_ holder: LaunchMachine.HolderRef)
    func daemonFailed(_ daemon: Int, _ failure: LaunchMachine.CallFailure)
    /// The launch left Docker's part on `daemon`: its place in the launch window is free.
    func launchSettled(_ daemon: Int, _ outcome: Scheduler.LaunchOutcome)
}

/// A launch outside any client session (the warm pool's): a `LaunchMachine` driven on the
/// reactor, with its timers, slots and outcome handled here and its I/O by `LaunchIO`.
/// Client sessions' launches are driven by the supervisor through `Lifecycle` instead.
final class Launch {
    struct Success {
        let daemon: Int
        let containerID: String
        let address: SocketAddress
        let socket: FileDescriptorBox
    }

    private unowned let owner: any LaunchOwner
    private var machine: LaunchMachine
    private var io: LaunchIO!
    private var completion: ((Result<Success, LaunchFailure>) -> Void)?
    private var retryTimer: TimerID?
    /// The refusal reported before the launch failed, for its owner's breaker.
    private var refusal: (daemon: Int, error: String)?

    /// Starts at once on `daemon` (a slot the caller acquired and now hands over).
    init(owner: any LaunchOwner, settings: ServiceConfig, daemon: Int, now: UInt64,
         completion: @escaping (Result<Success, LaunchFailure>) -> Void) {
        self.owner = owner
        self.completion = completion
        let (machine, actions) = LaunchMachine.start(settings: .init(settings), daemon: daemon,
                                                     publishes: owner.publishesPorts(daemon), now: now)
        self.machine = machine
        // The I/O holds this launch until it is done (`detach`): a pool that forgets a cancelled
        // launch must not lose the answer of its create call.
        io = LaunchIO(environment: owner, settings: settings, client: nil) { [self] generation, event in
            handle(event, generation: generation)
        }
        perform(actions)
    }

    var isDone: Bool { machine.isDone && completion == nil }
    var containerID: String? { machine.containerID }

    /// Abandons the launch; what it created is removed and its slot freed. No completion.
    func cancel() {
        completion = nil
        handle(.cancel, generation: machine.generation)
    }

    /// Docker reported this launch's container dead (events stream): replace it at once.
    func containerDied(exitCode: Int, oom: Bool) {
        handle(.died(exitCode: exitCode, oomKilled: oom), generation: machine.generation)
    }

    private func handle(_ event: LaunchMachine.Event, generation: Int) {
        guard let reactor = owner.reactor else { return }
        perform(machine.handle(event, generation: generation, now: reactor.now))
    }

    private func perform(_ actions: [LaunchMachine.Action]) {
        for action in actions where !io.perform(action, generation: machine.generation) {
            switch action {
            case let .retryAt(deadline):
                guard let reactor = owner.reactor else { return }
                if let retryTimer { reactor.cancel(retryTimer) }
                let generation = machine.generation
                let delay = deadline > reactor.now ? deadline - reactor.now : 0
                retryTimer = reactor.schedule(after: .nanoseconds(Int64(delay))) { [weak self] in
                    self?.retryTimer = nil
                    self?.handle(.retryDue, generation: generation)
                }
            case .needSlot:
                let daemon = owner.acquireSlot()
                handle(.slot(daemon: daemon, publishes: daemon.map { owner.publishesPorts($0) } ?? false), generation: machine.generation)
            case let .dispose(daemon, id, holder, clean):
                owner.dispose(daemon: daemon, id: id, holder: holder, clean: clean)
            case let .holderJoined(holder):
                owner.holderJoined(holder)
            case let .daemonFailed(daemon, failure):
                owner.daemonFailed(daemon, failure)
            case let .refused(daemon, error):
                refusal = (daemon, error)
            case let .launchSettled(daemon, outcome):
                owner.launchSettled(daemon, outcome)
            case let .log(line):
                owner.logger.log(level: line.level.logging, "\(line.message)",
                                 metadata: line.metadata.mapValues { .string($0) }.merging(["service": "\(io.settings.name)"]) { a, _ in a })
            case let .succeeded(daemon, id, address, _):
                cancelRetry()
                guard let socket = io.takeSocket(), let completion else { return }
                self.completion = nil
                completion(.success(Success(daemon: daemon, containerID: id, address: address, socket: FileDescriptorBox(socket))))
            case let .failed(reason, placeAgain):
                cancelRetry()
                guard let completion else { return }
                self.completion = nil
                completion(.failure(LaunchFailure(reason: reason, placeAgain: placeAgain, refused: refusal)))
            default:
                break
            }
        }
        if machine.isDone {
            cancelRetry()
            io.detach()
        }
    }

    private func cancelRetry() {
        if let retryTimer { owner.reactor?.cancel(retryTimer) }
        retryTimer = nil
    }
}

/// Why a launch gave up, in words for the log and the status page.
struct LaunchFailure: Error {
    let reason: String
    /// Nothing was created because the daemon did not answer: another daemon may serve.
    var placeAgain = false
    /// Docker on that daemon refused the launch with those words (`LaunchMachine.Action.refused`).
    var refused: (daemon: Int, error: String)?
}

extension LogLine.Level {
    var logging: Logger.Level {
        switch self {
        case .debug: .debug
        case .notice: .notice
        case .warning: .warning
        }
    }
}
