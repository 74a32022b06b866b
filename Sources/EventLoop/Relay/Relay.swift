import Glibc

/// Two connected sockets joined in both directions until both directions end.
///
/// Each direction half-closes on its own: a FIN from one side becomes `shutdown(SHUT_WR)` on
/// the other once everything before it has been delivered, while the other direction keeps
/// flowing. The relay ends when both directions finished, a side resets or fails, the idle
/// timeout passes, or its owner calls `close`. Then both sockets and any pipes are released
/// and `onClose` runs exactly once.
public final class Relay {
    /// What another process needs to resume a relay (takeover), besides its descriptors.
    public struct RelayState: Sendable, Codable, Equatable {
        public var toService: RelayDirectionState
        public var toClient: RelayDirectionState
        public var firstFIN: RelaySide?
        public var firstByteToClientAt: UInt64?
    }

    /// Why a relay ended.
    public enum CloseReason: Sendable, Equatable, CustomStringConvertible {
        /// Both directions finished; the client sent its FIN first.
        case clientClosed
        /// Both directions finished; the service sent its FIN first.
        case serviceClosed
        /// A side reset the connection (ECONNRESET, EPIPE): the other side gets a reset too.
        case reset(RelaySide)
        /// No byte moved either way for the idle timeout.
        case idle
        /// A call failed in a way a reset does not explain.
        case error(RelaySide, SyscallError)
        /// The owner ended it (a session limit, shutdown).
        case closedByOwner(String)

        public var description: String {
            switch self {
            case .clientClosed: "client closed"
            case .serviceClosed: "service closed"
            case let .reset(side): "\(side) reset"
            case .idle: "idle timeout"
            case let .error(side, error): "\(side) error: \(error)"
            case let .closedByOwner(why): why
            }
        }
    }

    public struct Options: Sendable {
        /// Close after this long with no byte moving either way; nil for never.
        public var idleTimeout: Duration?
        /// Copy through a buffer instead of splicing (tests; sockets that cannot splice).
        public var forceCopy = false
        /// Size of the small copy buffer (forced copy, splice refused, no pipe to be had); a fat
        /// stream copies through one of the pool's large buffers instead.
        public var bufferSize = 64 << 10
        /// Bytes to send to the service before anything the client sends now.
        public var prelude: [UInt8] = []

        public init(idleTimeout: Duration? = nil, forceCopy: Bool = false, prelude: [UInt8] = []) {
            self.idleTimeout = idleTimeout
            self.forceCopy = forceCopy
            self.prelude = prelude
        }
    }

    public typealias CloseHandler = (Relay, CloseReason) -> Void

    /// Bytes moved per wake-up before yielding to other connections.
    static let fairnessBudget = 8 << 20
    /// How long a source may stay quiet while its low-water mark is raised (a fat stream
    /// copying) before the relay lowers it and reads what is queued: the most a pause in a fat
    /// stream can delay its last bytes (twice this at worst), once per `fatAfter` bytes.
    static let quietSource = Duration.milliseconds(2)

    // Weak: an owner may outlive its loop (a test's loop thread ends first); its teardown then
    // has nothing left to deregister from.
    private weak var reactor: Reactor?
    private let pool: PipePool
    private var client: FileDescriptor?
    private var service: FileDescriptor?
    private var clientRegistration: Registration?
    private var serviceRegistration: Registration?
    private var toService: RelayDirection
    private var toClient: RelayDirection
    private var firstFIN: RelaySide?
    private var idleTimer: TimerID?
    /// The pending quiet check (see `armQuietCheck`).
    private var quietCheck: TimerID?
    private let idleTimeout: Duration?
    private var lastActivity: UInt64
    private var resumeScheduled = false
    /// Sides whose read interest is off while their direction waits for room (see `handle`).
    private var clientReadsMuted = false
    private var serviceReadsMuted = false
    /// Times a side's read interest was switched off (tests, the bench's profile).
    private(set) var readMutes = 0
    /// Times a quiet source's low-water mark was lowered again (tests).
    private(set) var lowWatermarksLowered = 0
    /// Suspended for a takeover: nothing moves until `resume`.
    public private(set) var suspended = false
    /// Runs once, when the client's FIN first arrives (the session is likely ending: the owner
    /// may prepare for what follows, e.g. a network holder about to come back).
    public var onClientFIN: (() -> Void)?
    private var onClose: CloseHandler?

    public private(set) var isClosed = false
    /// Monotonic time of the first byte delivered to the client (time-to-first-byte).
    public private(set) var firstByteToClientAt: UInt64?

    public var bytesToService: UInt64 { toService.bytes }
    public var bytesToClient: UInt64 { toClient.bytes }
    /// Whether each direction may still splice (false once it fell back to copying for good; a
    /// fat direction copying through a large buffer still counts as splicing).
    public var splicing: (toService: Bool, toClient: Bool) { (toService.usesSplice, toClient.usesSplice) }
    /// Pipes this relay holds right now (0 when idle).
    public var pipesHeld: Int { (toService.holdsPipe ? 1 : 0) + (toClient.holdsPipe ? 1 : 0) }
    /// Large copy buffers this relay holds right now (a fat direction moving bytes).
    public var largeBuffersHeld: Int { (toService.holdsLargeBuffer ? 1 : 0) + (toClient.holdsLargeBuffer ? 1 : 0) }

    /// Joins `client` and `service` (both connected, non-blocking) and starts moving bytes.
    public convenience init(
        reactor: Reactor, pool: PipePool, client: consuming FileDescriptor, service: consuming FileDescriptor,
        options: Options = Options(), onClose: @escaping CloseHandler
    ) throws(SyscallError) {
        try self.init(reactor: reactor, pool: pool, client: client, service: service,
                      toService: RelayDirection(sourceSide: .client, destinationSide: .service, prelude: options.prelude,
                                                bufferSize: options.bufferSize, forceCopy: options.forceCopy),
                      toClient: RelayDirection(sourceSide: .service, destinationSide: .client, prelude: [],
                                               bufferSize: options.bufferSize, forceCopy: options.forceCopy),
                      options: options, onClose: onClose)
    }

    private init(
        reactor: Reactor, pool: PipePool, client: consuming FileDescriptor, service: consuming FileDescriptor,
        toService: consuming RelayDirection, toClient: consuming RelayDirection, options: Options, onClose: @escaping CloseHandler
    ) throws(SyscallError) {
        self.reactor = reactor
        self.pool = pool
        self.client = consume client
        self.service = consume service
        self.toService = toService
        self.toClient = toClient
        idleTimeout = options.idleTimeout
        lastActivity = reactor.now
        self.onClose = onClose
        do {
            try registerSockets(on: reactor)
        } catch {
            close(reason: .error(.service, error), notify: false)
            throw error
        }
        if let idleTimeout { armIdleTimer(after: idleTimeout) }
        // Readiness is assumed optimistic, so a first pump moves whatever is already there.
        reactor.soon { [weak self] in self?.pump() }
    }

    private func registerSockets(on reactor: Reactor) throws(SyscallError) {
        clientRegistration = try reactor.register(clientFD, interest: .all) { [unowned self] in handle($0, on: .client) }
        serviceRegistration = try reactor.register(serviceFD, interest: .all) { [unowned self] in handle($0, on: .service) }
    }

    /// A relay resumed from another process (takeover): `state` as `handOff` described it and
    /// `descriptors` in its order (client, service, then each direction's pipe ends if it had
    /// bytes in flight). The pipes' bytes are delivered first.
    public convenience init(
        reactor: Reactor, pool: PipePool, resuming state: RelayState, descriptors: [FileDescriptorBox],
        options: Options = Options(), onClose: @escaping CloseHandler
    ) throws(SyscallError) {
        var boxes = descriptors[...]
        func next() throws(SyscallError) -> FileDescriptor {
            guard let box = boxes.popFirst(), let fd = box.take() else { throw SyscallError("takeover: a relay descriptor is missing", errno: EBADF) }
            return fd
        }
        // What the other process says is checked against the descriptors themselves: a relay
        // that waits for bytes a pipe does not hold, or splices to something not a stream
        // socket, would stall or fail later where the cause is no longer visible.
        func pipe(_ direction: RelayDirectionState) throws(SyscallError) -> Pipe? {
            guard direction.inFlight > 0 else { return nil }
            let readEnd = try next()
            let writeEnd = try next()
            guard Pipe.isPipe(readEnd.rawValue), Pipe.isPipe(writeEnd.rawValue) else {
                throw SyscallError("takeover: a relay's conduit is not a pipe", errno: EINVAL)
            }
            let queued = Pipe.bytesQueued(readEnd.rawValue)
            guard queued == direction.inFlight else {
                throw SyscallError("takeover: a pipe holds \(queued) bytes, the state says \(direction.inFlight)", errno: EINVAL)
            }
            pool.adopted()
            return Pipe(readEnd: readEnd, writeEnd: writeEnd, count: direction.inFlight)
        }
        let client = try next()
        let service = try next()
        for socket in [client.rawValue, service.rawValue]
        where (try? Socket.option(socket, level: SOL_SOCKET, name: SO_TYPE)) != Int32(SOCK_STREAM.rawValue) {
            throw SyscallError("takeover: a relay's socket is not a stream socket", errno: EINVAL)
        }
        // The other process may have raised a socket's low-water mark (a fat stream); this one
        // starts with none raised and would never lower it.
        try Socket.setReceiveLowWatermark(client.rawValue, 1)
        try Socket.setReceiveLowWatermark(service.rawValue, 1)
        let toService = RelayDirection(sourceSide: .client, destinationSide: .service, resuming: state.toService,
                                       pipe: try pipe(state.toService), bufferSize: options.bufferSize)
        let toClient = RelayDirection(sourceSide: .service, destinationSide: .client, resuming: state.toClient,
                                      pipe: try pipe(state.toClient), bufferSize: options.bufferSize)
        try self.init(reactor: reactor, pool: pool, client: client, service: service, toService: toService, toClient: toClient,
                      options: options, onClose: onClose)
        firstFIN = state.firstFIN
        firstByteToClientAt = state.firstByteToClientAt
    }

    /// Stops moving bytes (nothing is read or written, no timer runs) until `resume`: a safe
    /// point to describe the relay to another process.
    public func suspend() {
        guard !isClosed, !suspended else { return }
        suspended = true
        if let clientRegistration { reactor?.deregister(clientRegistration) }
        if let serviceRegistration { reactor?.deregister(serviceRegistration) }
        clientRegistration = nil
        serviceRegistration = nil
        // `resume` registers both sides with every interest again: nothing stays muted.
        clientReadsMuted = false
        serviceReadsMuted = false
        cancelTimers()
    }

    /// Moves bytes again after `suspend` (a takeover that failed).
    public func resume() {
        guard !isClosed, suspended, let reactor else { return }
        suspended = false
        do {
            try registerSockets(on: reactor)
        } catch {
            return close(reason: .error(.service, error), notify: true)
        }
        if let idleTimeout { armIdleTimer(after: idleTimeout) }
        reactor.soon { [weak self] in self?.pump() }
    }

    /// A suspended relay's state and copies of its descriptors (client, service, each
    /// direction's pipe ends when bytes are in flight), for another process. The relay is left
    /// as it was.
    public func handOff() throws(SyscallError) -> (state: RelayState, descriptors: [FileDescriptorBox]) {
        precondition(suspended, "handOff needs a suspended relay")
        var descriptors = [FileDescriptorBox(try DescriptorPassing.duplicate(clientFD)),
                           FileDescriptorBox(try DescriptorPassing.duplicate(serviceFD))]
        func append(_ ends: [FileDescriptorBox]) throws(SyscallError) {
            guard ends.count == 2 else { throw SyscallError("takeover: bytes in flight but no conduit", errno: EINVAL) }
            descriptors += ends
        }
        // The order `init(resuming:)` reads them in.
        if toService.state.inFlight > 0 { try append(try toService.handOffConduit()) }
        if toClient.state.inFlight > 0 { try append(try toClient.handOffConduit()) }
        let state = RelayState(toService: toService.state, toClient: toClient.state, firstFIN: firstFIN,
                               firstByteToClientAt: firstByteToClientAt)
        return (state, descriptors)
    }

    /// Another process took the relay over: this one lets its copies go without a FIN, a
    /// reset or `onClose` (the sockets and pipes live on over there).
    public func abandon() {
        guard !isClosed else { return }
        suspend()
        isClosed = true
        toService.abandonConduit(pool: pool)
        toClient.abandonConduit(pool: pool)
        client = nil
        service = nil
        onClose = nil
    }

    /// Ends the relay now: both sockets close (with a FIN) and `onClose` runs with `reason`.
    public func close(_ why: String) {
        close(reason: .closedByOwner(why), notify: true)
    }

    private func handle(_ events: IOEvents, on side: RelaySide) {
        guard !suspended else { return }
        if events.contains(.error) {
            let fd = side == .client ? clientFD : serviceFD
            if let code = try? Socket.pendingError(fd), code != 0 {
                let error = SyscallError("socket", errno: code)
                close(reason: error.isPeerGone ? .reset(side) : .error(side, error), notify: true)
                return
            }
        }
        // What the kernel said lifts the "would block" we learned; the next call tells the truth.
        if !events.intersection([.readable, .readHangup, .hangup, .error]).isEmpty {
            if side == .client { toService.sourceReadable = true } else { toClient.sourceReadable = true }
        }
        if !events.intersection([.writable, .hangup, .error]).isEmpty {
            if side == .client { toClient.destinationWritable = true } else { toService.destinationWritable = true }
        }
        pump()
        // Edge-triggered epoll reports every arrival on a source, also while its pipe is full
        // and the destination blocked: each such wake-up does nothing. After the first one,
        // stop listening for reads on that side until the pipe drains (HAProxy stops polling
        // a full channel's source the same way): two epoll_ctl per long stall instead of a
        // wake-up per arriving segment. Only after a useless wake-up, so short stalls cost none.
        if events.contains(.readable) && !isClosed {
            // A refused mute leaves reads on: at worst the wake-ups it would have saved.
            if side == .client && !clientReadsMuted && toService.waitingForRoom {
                clientReadsMuted = (try? setReads(clientRegistration, on: false)) != nil
            } else if side == .service && !serviceReadsMuted && toClient.waitingForRoom {
                serviceReadsMuted = (try? setReads(serviceRegistration, on: false)) != nil
            }
        }
    }

    /// Turns a muted side's reads back on once its direction has room again. The source's
    /// "readable" flag was never cleared while muted (the stall was for room, not for bytes),
    /// so a fill is tried anyway; EPOLL_CTL_MOD also reports bytes that came meanwhile. A
    /// refused unmute ends the relay: left muted, the direction would stall for good.
    private func unmuteReadsWithRoom() {
        do {
            if clientReadsMuted && !toService.waitingForRoom {
                try setReads(clientRegistration, on: true)
                clientReadsMuted = false
            }
        } catch {
            return close(reason: .error(.client, error), notify: true)
        }
        do {
            if serviceReadsMuted && !toClient.waitingForRoom {
                try setReads(serviceRegistration, on: true)
                serviceReadsMuted = false
            }
        } catch {
            close(reason: .error(.service, error), notify: true)
        }
    }

    /// Switches a side's read interest (reads and read hang-ups). Writes, hang-ups and errors
    /// are reported either way.
    private func setReads(_ registration: Registration?, on: Bool) throws(SyscallError) {
        guard let registration, let reactor else { return }
        try reactor.modify(registration, interest: on ? .all : [.writable])
        if !on { readMutes += 1 }
    }

    private func pump() {
        guard !isClosed, !suspended, let reactor else { return }
        let before = toService.bytes &+ toClient.bytes
        var budget = Self.fairnessBudget
        let outcomes: (RelayDirection.Outcome, RelayDirection.Outcome)
        do {
            let (c, s) = (clientFD, serviceFD)
            outcomes = (try toService.pump(from: c, to: s, pool: pool, budget: &budget),
                        try toClient.pump(from: s, to: c, pool: pool, budget: &budget))
        } catch {
            close(reason: error.error.isPeerGone ? .reset(error.side) : .error(error.side, error.error), notify: true)
            return
        }
        if toClient.bytes > 0 && firstByteToClientAt == nil { firstByteToClientAt = reactor.now }
        if toService.bytes &+ toClient.bytes != before { lastActivity = reactor.now }
        if firstFIN == nil {
            if toService.sourceEOF { firstFIN = .client } else if toClient.sourceEOF { firstFIN = .service }
        }
        if toService.sourceEOF, let clientFIN = onClientFIN {
            onClientFIN = nil
            clientFIN()
        }
        if toService.finished && toClient.finished {
            close(reason: firstFIN == .service ? .serviceClosed : .clientClosed, notify: true)
            return
        }
        unmuteReadsWithRoom()
        if isClosed { return }
        armQuietCheck()
        if (outcomes.0 == .budgetSpent || outcomes.1 == .budgetSpent) && !resumeScheduled {
            resumeScheduled = true
            reactor.soon { [weak self] in
                self?.resumeScheduled = false
                self?.pump()
            }
        }
    }

    /// A direction waiting for its source with the low-water mark raised wakes only once enough
    /// bytes are queued: if the source pauses with fewer (the end of a burst, a stream turning
    /// interactive), nothing would. One timer per relay checks, every `quietSource`, whether
    /// such a direction read anything since; if not, its mark goes back to the default and the
    /// pump reads what is queued. Armed only while a direction waits that way, so a relay that
    /// never copies a fat stream never arms it.
    private func armQuietCheck() {
        guard quietCheck == nil, toService.waitsOnQuietSource || toClient.waitsOnQuietSource, let reactor else { return }
        let marks = (toService: toService.reads, toClient: toClient.reads)
        quietCheck = reactor.schedule(after: Self.quietSource) { [unowned self] in
            quietCheck = nil
            guard !isClosed, !suspended else { return }
            do throws(RelayFault) {
                if toService.waitsOnQuietSource && toService.reads == marks.toService {
                    try toService.lowerLowWatermark(source: clientFD, pool: pool)
                    lowWatermarksLowered += 1
                }
                if toClient.waitsOnQuietSource && toClient.reads == marks.toClient {
                    try toClient.lowerLowWatermark(source: serviceFD, pool: pool)
                    lowWatermarksLowered += 1
                }
            } catch {
                return close(reason: .error(error.side, error.error), notify: true)
            }
            pump()  // reads what is queued; arms the check again while a source still waits so
        }
    }

    private func cancelTimers() {
        if let idleTimer { reactor?.cancel(idleTimer) }
        idleTimer = nil
        if let quietCheck { reactor?.cancel(quietCheck) }
        quietCheck = nil
    }

    // The sockets' numbers, borrowed for a call (-1 once closed).
    private var clientFD: CInt { client.rawValueOrInvalid }
    private var serviceFD: CInt { service.rawValueOrInvalid }

    private func armIdleTimer(after delay: Duration) {
        idleTimer = reactor?.schedule(after: delay) { [unowned self] in
            idleTimer = nil
            guard let idleTimeout, !isClosed, !suspended, let reactor else { return }
            // Re-arming per byte would churn the timer heap; instead check on expiry and
            // sleep again for whatever is left.
            let quiet = reactor.now &- lastActivity
            if quiet >= idleTimeout.nanoseconds {
                close(reason: .idle, notify: true)
            } else {
                armIdleTimer(after: .nanoseconds(Int64(idleTimeout.nanoseconds - quiet)))
            }
        }
    }

    private func close(reason: CloseReason, notify: Bool) {
        guard !isClosed else { return }
        isClosed = true
        // Deregister, reset state, close last. The relay owns both sockets alone and closes
        // them below, which removes them from the epoll set: no EPOLL_CTL_DEL needed.
        if let clientRegistration { reactor?.forget(clientRegistration) }
        if let serviceRegistration { reactor?.forget(serviceRegistration) }
        clientRegistration = nil
        serviceRegistration = nil
        cancelTimers()
        toService.dropConduit(pool: pool)
        toClient.dropConduit(pool: pool)
        switch reason {
        case .reset, .error:
            // Pass a reset on as a reset: the other peer must not mistake a cut stream for a
            // complete one.
            Socket.setAbortiveClose(clientFD)
            Socket.setAbortiveClose(serviceFD)
        default:
            break
        }
        client = nil
        service = nil
        let handler = onClose
        onClose = nil
        if notify { handler?(self, reason) }
    }
}
