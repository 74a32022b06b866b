import EventLoop
import Glibc
import Logging

/// What the old process handed over, gathered by `TakeoverHeir` and prepared by the supervisor
/// (Supervisor+Inherit.swift) before `ready`.
final class Inheritance {
    let state: TakeoverState
    /// Listening sockets, in `state.listeners` order.
    var listeners: [FileDescriptorBox]
    var status: FileDescriptorBox?
    var control: FileDescriptorBox?
    var sessions: [(entry: TakeoverSession, descriptors: [FileDescriptorBox])] = []
    /// Prepared before `ready`: where each service's socket comes from, the sockets bound afresh
    /// (paused until commit), a status server bound afresh, each session's service and daemon.
    var plan: ListenerPlan?
    var fresh: [String: Listener] = [:]
    var freshStatus: StatusServer?
    var placements: [UInt64: (service: Int, daemon: Int)] = [:]

    init(state: TakeoverState, descriptors: [FileDescriptorBox]) {
        self.state = state
        var rest = descriptors[...]
        listeners = Array(rest.prefix(state.listeners.count))
        rest = rest.dropFirst(state.listeners.count)
        if state.status { status = rest.popFirst() }
        if state.control { control = rest.popFirst() }
    }
}

/// The new process's side of a takeover (`ganger run --takeover`):
///
/// ```
/// connect, hello ─► state (listeners) ─► sessions… ─► end
///   ─► prepare: services and daemons matched, new sockets bound, leases taken ─► ready
///   ─► commit ─► serve (the old process exits; its close here starts the pools)
/// ```
///
/// Before `commit` nothing handed over is touched (no accept, no read, no write): a failure
/// anywhere leaves the old process serving. `GANGER_TAKEOVER_CRASH_AT=N` (tests) kills this
/// process with SIGKILL at step N: 1 after hello, 2 after the state, 3 after the first sessions,
/// 4 after the leases, just before `ready`.
final class TakeoverHeir {
    private unowned let supervisor: Supervisor
    private weak var reactor: Reactor?
    private var channel: MessageChannel?
    private enum Phase: String { case waitingState = "waiting for the state", waitingSessions = "receiving sessions",
                                      preparing, waitingCommit = "waiting for commit", serving, over }
    private var phase = Phase.waitingState
    private var inheritance: Inheritance?
    /// Ids of the sessions received so far: one described twice is refused.
    private var sessionIDs: Set<UInt64> = []
    private var deadline: TimerID?
    private let crashAt: Int?
    private let prepare: (Inheritance, @escaping (String?) -> Void) -> Void
    private let completion: (Result<Inheritance, TakeoverError>) -> Void
    /// The old process exited (its end of the control connection closed) after the commit.
    var predecessorGone: (() -> Void)?
    /// The old process's pid (SO_PEERCRED).
    private(set) var peerPID: Int32 = 0

    static let limit: Duration = .seconds(90)

    /// Connects to `path` and says hello; `prepare` gets everything once received and answers
    /// nil (ready) or why not; `completion` gets the commit or the failure.
    init(supervisor: Supervisor, reactor: Reactor, path: String, crashAt: Int?,
         prepare: @escaping (Inheritance, @escaping (String?) -> Void) -> Void,
         completion: @escaping (Result<Inheritance, TakeoverError>) -> Void) throws(TakeoverError) {
        self.supervisor = supervisor
        self.reactor = reactor
        self.crashAt = crashAt
        self.prepare = prepare
        self.completion = completion
        let socket: FileDescriptor
        do {
            socket = try DescriptorPassing.connect(path: path)
        } catch {
            throw TakeoverError("no Ganger to take over at \(path): \(error)")
        }
        var received: MessageChannel.MessageHandler = { _, _ in }
        var closed: MessageChannel.CloseHandler = { _ in }
        do {
            channel = try MessageChannel(reactor: reactor, socket: socket, maxBytes: TakeoverFrame.maxBytes,
                                         maxDescriptors: TakeoverFrame.maxDescriptors,
                                         onMessage: { received($0, $1) }, onClose: { closed($0) })
        } catch {
            throw TakeoverError("control connection: \(error)")
        }
        let peer = try? channel?.peer()
        guard let peer, peer.uid == currentUserID() else {
            throw TakeoverError("the process at \(path) is not this user's (uid \(peer.map { "\($0.uid)" } ?? "unknown"))")
        }
        peerPID = peer.pid
        received = { [unowned self] bytes, descriptors in self.received(bytes, descriptors) }
        closed = { [unowned self] why in channelClosed(why) }
        deadline = reactor.schedule(after: Self.limit) { [unowned self] in fail("the takeover took longer than \(Self.limit)") }
        send(.hello, TakeoverHello(instance: supervisor.instance, pid: getpid(), version: GangerVersion.string))
        crash(at: 1)
    }

    private func received(_ bytes: [UInt8], _ descriptors: [FileDescriptorBox]) {
        do throws(TakeoverError) {
            let (kind, payload) = try TakeoverFrame.decode(bytes)
            switch (phase, kind) {
            case (_, .refuse):
                fail("the old process refused: \(try TakeoverFrame.body(TakeoverRefusal.self, payload).reason)", tell: false)
            case (.waitingState, .state):
                let state = try TakeoverFrame.body(TakeoverState.self, payload)
                try state.check(instance: supervisor.instance, descriptors: descriptors.count)
                inheritance = Inheritance(state: state, descriptors: descriptors)
                phase = .waitingSessions
                crash(at: 2)
            case (.waitingSessions, .sessions):
                let batch = try TakeoverFrame.body(TakeoverSessions.self, payload)
                try batch.check(descriptors: descriptors.count, seen: &sessionIDs, now: MonotonicClock.now())
                let announced = inheritance?.state.sessions ?? 0
                guard sessionIDs.count <= announced else {
                    throw TakeoverError("\(sessionIDs.count) sessions sent, \(announced) announced")
                }
                var rest = descriptors[...]
                for entry in batch.sessions {
                    inheritance?.sessions.append((entry, Array(rest.prefix(entry.descriptors))))
                    rest = rest.dropFirst(entry.descriptors)
                }
                crash(at: 3)
            case (.waitingSessions, .end):
                guard let inheritance, inheritance.sessions.count == inheritance.state.sessions else {
                    throw TakeoverError("\(inheritance?.sessions.count ?? 0) sessions received, \(inheritance?.state.sessions ?? 0) announced")
                }
                phase = .preparing
                prepare(inheritance) { [weak self] error in self?.prepared(error) }
            case (.waitingCommit, .commit):
                phase = .serving
                if let deadline { reactor?.cancel(deadline) }
                guard let inheritance else { return }
                self.inheritance = nil
                completion(.success(inheritance))
            default:
                throw TakeoverError("unexpected \(kind) message while \(phase.rawValue)")
            }
        } catch {
            fail(error.description)
        }
    }

    private func prepared(_ error: String?) {
        guard phase == .preparing else { return }
        if let error { return fail(error) }
        crash(at: 4)
        phase = .waitingCommit
        send(.ready, TakeoverEmpty())
    }

    private func channelClosed(_ why: String) {
        if phase == .serving {
            channel = nil
            let gone = predecessorGone
            predecessorGone = nil
            gone?()
            return
        }
        fail("the old process closed the control connection (\(why))", tell: false)
    }

    private func send(_ kind: TakeoverFrame.Kind, _ body: some Encodable) {
        do throws(TakeoverError) {
            channel?.send(try TakeoverFrame.encode(kind, body))
        } catch {
            fail(error.description)
        }
    }

    private func fail(_ why: String, tell: Bool = true) {
        guard phase != .over, phase != .serving else { return }
        phase = .over
        if let deadline { reactor?.cancel(deadline) }
        if tell, let channel, !channel.isClosed, let frame = try? TakeoverFrame.encode(.refuse, TakeoverRefusal(reason: why)) {
            channel.send(frame)
        }
        channel?.close()
        channel = nil
        let received = inheritance
        inheritance = nil
        completion(.failure(TakeoverError(why)))
        _ = received  // its descriptors (copies) close here; the old process's are untouched
    }

    /// The test hook: dies at `step` as a crash would (no cleanup, no word to the old process).
    private func crash(at step: Int) {
        guard crashAt == step else { return }
        supervisor.logger.notice("GANGER_TAKEOVER_CRASH_AT: killing this process", metadata: ["step": "\(step)"])
        raise(SIGKILL)
    }
}
