import EventLoop
import Logging

/// The old process's side of a takeover, on one control connection:
///
/// ```
/// hello ─► listeners paused ─► settling (no session queued or launching, ≤ 30 s)
///   ─► relays suspended, state + sessions + end sent ─► ready ─► commit sent ─► let go, exit 0
/// any refusal, close, malformed message or the 60 s bound before `ready`:
///   relays resumed, listeners resumed, this process serves on (and logs why)
/// ```
///
/// Nothing this process owns changes before `ready`: the new process only received copies of
/// descriptors, which it does not touch until `commit`; so whatever happens to it before then,
/// resuming here is safe.
final class TakeoverDonor {
    private unowned let supervisor: Supervisor
    private weak var reactor: Reactor?
    private var channel: MessageChannel?
    /// The new process (SO_PEERCRED).
    let peer: (uid: UInt32, pid: Int32)?

    private enum Phase: String { case waitingHello = "waiting for hello", settling, waitingReady = "waiting for ready", committed, over }
    private var phase = Phase.waitingHello
    private var deadline: TimerID?
    private var poll: TimerID?
    private var settleStarted: UInt64 = 0
    private var suspended: [UInt64] = []
    private var paused = false

    /// The whole handshake, hello to ready; and the wait for sessions to finish launching.
    static let limit: Duration = .seconds(60)
    static let settleLimit: Duration = .seconds(30)
    /// Sessions per `sessions` message: at most 6 descriptors each, well under the cap.
    static let batch = 32

    init(supervisor: Supervisor, reactor: Reactor, socket: consuming FileDescriptor) throws(SyscallError) {
        self.supervisor = supervisor
        self.reactor = reactor
        var received: MessageChannel.MessageHandler = { _, _ in }
        var closed: MessageChannel.CloseHandler = { _ in }
        let channel = try MessageChannel(reactor: reactor, socket: socket, maxBytes: TakeoverFrame.maxBytes,
                                         maxDescriptors: TakeoverFrame.maxDescriptors,
                                         onMessage: { received($0, $1) }, onClose: { closed($0) })
        self.channel = channel
        peer = try? channel.peer()
        received = { [unowned self] bytes, _ in self.received(bytes) }
        closed = { [unowned self] why in fail("the new process closed the control connection (\(why))", tell: false) }
        deadline = reactor.schedule(after: Self.limit) { [unowned self] in fail("no ready from the new process within \(Self.limit)") }
    }

    /// Says no (before anything started) and hangs up.
    func refuse(_ reason: String) {
        phase = .over
        if let deadline { reactor?.cancel(deadline) }
        send(.refuse, TakeoverRefusal(reason: reason))
        channel?.close()
        channel = nil
    }

    private var log: Logger { supervisor.logger }

    /// Ends a takeover not yet committed (a signal to shut down): this process serves on.
    func abort(_ why: String) { fail(why) }

    private func received(_ bytes: [UInt8]) {
        do throws(TakeoverError) {
            let (kind, payload) = try TakeoverFrame.decode(bytes)
            switch (phase, kind) {
            case (_, .refuse):
                let refusal = try TakeoverFrame.body(TakeoverRefusal.self, payload)
                fail("the new process refused: \(refusal.reason)", tell: false)
            case (.waitingHello, .hello):
                let hello = try TakeoverFrame.body(TakeoverHello.self, payload)
                try hello.check()
                guard hello.instance == supervisor.instance else {
                    return fail("the new process is instance \(hello.instance), this one \(supervisor.instance)")
                }
                log.notice("takeover requested: listeners paused", metadata: [
                    "pid": "\(hello.pid)", "version": "\(hello.version)", "sessions": "\(supervisor.sessions.count)",
                ])
                phase = .settling
                paused = true
                supervisor.pauseListeners()
                settleStarted = reactor?.now ?? 0
                settle()
            case (.waitingReady, .ready):
                commit()
            default:
                fail("unexpected \(kind) message while \(phase.rawValue)")
            }
        } catch {
            fail(error.description)
        }
    }

    /// Waits until no session is queued or launching (they finish here first: their Docker
    /// calls and connects are this process's), then describes everything.
    private func settle() {
        guard phase == .settling, let reactor else { return }
        let busy = supervisor.lifecycle.sessions.values.filter { $0.phase == .queued || $0.phase == .launching }.count
        if busy > 0 {
            guard reactor.now &- settleStarted < Self.settleLimit.nanoseconds else {
                return fail("\(busy) sessions still queued or launching after \(Self.settleLimit)")
            }
            poll = reactor.schedule(after: .milliseconds(20)) { [weak self] in self?.settle() }
            return
        }
        let ids = supervisor.suspendRelays()
        suspended = ids
        do {
            // A send can find the new process gone and `fail` at once (relays resumed,
            // `suspended` emptied): after each one, stop unless still settling.
            let (state, descriptors) = try supervisor.describeForTakeover(sessions: ids.count)
            send(.state, state, descriptors)
            for start in stride(from: 0, to: ids.count, by: Self.batch) {
                guard phase == .settling else { return }
                let (batch, batchDescriptors) = try supervisor.describeSessions(Array(ids[start..<min(start + Self.batch, ids.count)]))
                send(.sessions, batch, batchDescriptors)
            }
            guard phase == .settling else { return }
            send(.end, TakeoverEmpty())
            guard phase == .settling else { return }
            phase = .waitingReady
            log.notice("takeover: state sent, waiting for the new process", metadata: [
                "sessions": "\(ids.count)", "listeners": "\(state.listeners.count)",
            ])
        } catch {
            fail("cannot describe this process: \(error)")
        }
    }

    private func commit() {
        guard let channel, phase == .waitingReady else { return }
        send(.commit, TakeoverEmpty())
        guard !channel.isClosed, channel.queued == 0 else {
            // Not delivered (the buffer would have taken it unless the peer is gone): the new
            // process never learns it may serve, so this one must serve on.
            return fail("the commit could not be delivered")
        }
        phase = .committed
        if let deadline { reactor?.cancel(deadline) }
        // The channel stays open until this process exits: its close tells the new one this
        // one is gone.
        supervisor.handedOver(sessions: suspended, to: peer?.pid ?? 0)
    }

    private func send(_ kind: TakeoverFrame.Kind, _ body: some Encodable, _ descriptors: [FileDescriptorBox] = []) {
        do throws(TakeoverError) {
            channel?.send(try TakeoverFrame.encode(kind, body), descriptors: descriptors)
        } catch {
            fail(error.description)
        }
    }

    /// Serves on as before: relays and listeners resumed.
    private func fail(_ why: String, tell: Bool = true) {
        guard phase != .over, phase != .committed else { return }
        phase = .over
        if let deadline { reactor?.cancel(deadline) }
        if let poll { reactor?.cancel(poll) }
        if tell, let channel, !channel.isClosed {
            if let frame = try? TakeoverFrame.encode(.refuse, TakeoverRefusal(reason: why)) { channel.send(frame) }
        }
        channel?.close()
        channel = nil
        supervisor.resumeRelays(suspended)
        if paused { supervisor.resumeListeners() }
        log.warning("takeover failed: this process serves on", metadata: ["reason": "\(why)", "sessions": "\(suspended.count)"])
        suspended = []
        if supervisor.donor === self { supervisor.donor = nil }
    }
}
