import CGangerShims
import Glibc

/// The event loop: one thread, one epoll set, timers and a queue of deferred work.
///
/// Every registration is edge-triggered (EPOLLET). A relay keeps its own "readable" and
/// "writable" flags and always works until EAGAIN, so backpressure needs no `epoll_ctl` to
/// stay correct: a level-triggered set would either spin on a readable source whose sink is
/// full, or pay two syscalls per stall. (A relay still mutes reads on a side whose pipe stays
/// full, because edge-triggered epoll reports every arriving segment: see `Relay.handle`.)
/// The rule every handler follows: drain until EAGAIN, or remember that work is left and come
/// back through `soon`.
///
/// Not thread-safe: only the loop's thread may call it. Other threads go through `handle`.
/// Handlers cannot throw; a handler that fails closes its own connection.
public final class Reactor {
    public typealias Handler = (IOEvents) -> Void

    private struct Slot {
        var generation: UInt32
        var handler: Handler
    }

    private let epoll: FileDescriptor
    private var slots: [Slot?] = []
    /// Descriptors left in the epoll set without a handler (`park`), by number: the next
    /// `register` of that number re-arms with EPOLL_CTL_MOD instead of adding.
    private var parked: Set<CInt> = []
    private var nextGeneration: UInt32 = 0
    private var timers = TimerHeap()
    private var deferred: [() -> Void] = []
    private let events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity: Int32 = 512
    private var stopRequested = false
    private var wakeupRegistration: Registration?

    /// The only way in from another thread: queue a task, stop the loop.
    public let handle: ReactorHandle

    /// Monotonic nanoseconds, read once per loop round: cheap enough to stamp every event.
    public private(set) var now: UInt64

    /// Registered descriptors, the wake-up eventfd included.
    public var registrationCount: Int { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
    public var pendingTimerCount: Int { timers.count }

    public init() throws(SyscallError) {
        // A write to a socket whose peer has gone must fail with EPIPE, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        epoll = try Epoll.create()
        events = .allocate(capacity: Int(eventCapacity))
        handle = try ReactorHandle()
        now = MonotonicClock.now()
        let wakeup = handle
        wakeupRegistration = try register(handle.eventFD, interest: .readable) { [unowned self] _ in
            for task in wakeup.drain() { task(self) }
            if wakeup.stopRequested { stopRequested = true }
        }
    }

    deinit { events.deallocate() }

    // MARK: Descriptors

    /// Watches `fd` (edge-triggered) and calls `handler` with what happened. The caller keeps
    /// owning `fd` and must `deregister` before closing it.
    public func register(_ fd: CInt, interest: Interest, _ handler: @escaping Handler) throws(SyscallError) -> Registration {
        nextGeneration &+= 1
        let registration = Registration(fd: fd, generation: nextGeneration)
        let events = interest.rawValue | GANGER_EPOLLET
        // A parked number is still in the set, unless its descriptor was closed and the number
        // reused: then the MOD finds nothing and an ADD follows.
        let op = parked.remove(fd) != nil ? GANGER_EPOLL_CTL_MOD : GANGER_EPOLL_CTL_ADD
        do {
            try Epoll.control(epoll.rawValue, op, fd: fd, events: events, data: registration.packed)
        } catch where op == GANGER_EPOLL_CTL_MOD && error.errno == ENOENT {
            try Epoll.control(epoll.rawValue, GANGER_EPOLL_CTL_ADD, fd: fd, events: events, data: registration.packed)
        }
        let index = Int(fd)
        if index >= slots.count { slots.append(contentsOf: repeatElement(nil, count: index - slots.count + 1)) }
        precondition(slots[index] == nil, "fd \(fd) registered twice")
        slots[index] = Slot(generation: registration.generation, handler: handler)
        return registration
    }

    /// Changes what `registration` listens for. Re-arming with EPOLL_CTL_MOD also re-reports a
    /// condition that is already true, which is how a paused listener picks up its backlog.
    public func modify(_ registration: Registration, interest: Interest) throws(SyscallError) {
        guard isLive(registration) else { return }
        try Epoll.control(epoll.rawValue, GANGER_EPOLL_CTL_MOD, fd: registration.fd,
                          events: interest.rawValue | GANGER_EPOLLET, data: registration.packed)
    }

    /// Stops watching; idempotent, and a no-op for a stale registration. Call before close.
    public func deregister(_ registration: Registration) {
        guard isLive(registration) else { return }
        slots[Int(registration.fd)] = nil
        do {
            try Epoll.remove(epoll.rawValue, fd: registration.fd)
        } catch {
            // ENOENT/EPERM cannot happen for a live slot; anything else is a bug worth seeing.
            preconditionFailure("\(error)")
        }
    }

    /// Stops watching a descriptor its caller closes right after, without an `epoll_ctl`:
    /// closing the last descriptor of an open file takes it out of the epoll set by itself.
    /// Only for a descriptor that is the file's sole one (no `dup`, not passed on); should a
    /// copy live on a little (a child between fork and exec), its late events carry this
    /// registration's generation and are dropped like any stale event.
    public func forget(_ registration: Registration) {
        guard isLive(registration) else { return }
        slots[Int(registration.fd)] = nil
    }

    /// Stops calling `registration`'s handler but leaves the descriptor in the epoll set, for
    /// its next owner on this loop to `register` with one `EPOLL_CTL_MOD` rather than a DEL now
    /// and an ADD then: a connected socket going from its connector to its relay (one
    /// `epoll_ctl` less per proxied connection). Events that arrive meanwhile carry this
    /// registration's generation and are dropped; a descriptor closed while parked leaves the
    /// set by itself, and a new one given its number is added as usual. Only for a descriptor
    /// that stays on this loop: one handed to another thread would keep waking this one.
    public func park(_ registration: Registration) {
        guard isLive(registration) else { return }
        slots[Int(registration.fd)] = nil
        parked.insert(registration.fd)
    }

    private func isLive(_ registration: Registration) -> Bool {
        let index = Int(registration.fd)
        return index < slots.count && slots[index]?.generation == registration.generation
    }

    // MARK: Timers and deferred work

    /// Calls `callback` once, on the loop, no earlier than `delay` from now.
    @discardableResult
    public func schedule(after delay: Duration, _ callback: @escaping () -> Void) -> TimerID {
        timers.schedule(at: MonotonicClock.now() &+ delay.nanoseconds, callback)
    }

    /// Cancels a pending timer; safe from any callback, a no-op if it already ran.
    public func cancel(_ timer: TimerID) { timers.cancel(timer) }

    /// Runs `task` on the loop after the current round's events, before the next wait.
    public func soon(_ task: @escaping () -> Void) { deferred.append(task) }

    // MARK: Running

    /// Runs until `stop()` (or `handle.stop()`). Throws only if epoll itself fails. A `stop()`
    /// made before `run()` (a startup that failed before the loop ran) ends it after one round
    /// instead of being lost; the request is spent when `run()` returns, so it can run again.
    public func run() throws(SyscallError) {
        defer { stopRequested = false }
        repeat {
            let count = try Epoll.wait(epoll.rawValue, into: events, capacity: eventCapacity,
                                       timeoutMs: waitTimeout())
            now = MonotonicClock.now()
            for i in 0..<count {
                let event = events[i]
                let registration = Registration(packed: event.data.u64)
                // A handler earlier in this round may have closed the fd and a new registration
                // taken its number: the generation tells the stale event apart, and it is dropped.
                guard isLive(registration), let slot = slots[Int(registration.fd)] else { continue }
                slot.handler(IOEvents(rawValue: event.events))
            }
            runDueTimers()
            runDeferred()
        } while !stopRequested
    }

    /// Ends `run()` after the current round. Loop thread only; other threads use `handle.stop()`.
    public func stop() { stopRequested = true }

    private func waitTimeout() -> Int32 {
        if !deferred.isEmpty || stopRequested { return 0 }
        guard let deadline = timers.nextDeadline() else { return -1 }
        let current = MonotonicClock.now()
        if deadline <= current { return 0 }
        // Round up: waking a millisecond early would only spin until the deadline.
        let ms = (deadline - current + 999_999) / 1_000_000
        return Int32(min(ms, UInt64(Int32.max)))
    }

    private func runDueTimers() {
        while let callback = timers.popDue(now: now) { callback() }
    }

    private func runDeferred() {
        guard !deferred.isEmpty else { return }
        // Work deferred by these tasks waits for the next round, so nothing starves the poll.
        let tasks = deferred
        deferred.removeAll(keepingCapacity: true)
        for task in tasks { task() }
    }
}
