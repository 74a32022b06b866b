import EventLoop

/// What the new process accepts from the one it takes over, checked before any of it is used.
///
/// The other side is this user's own Ganger (the heir checks SO_PEERCRED), but it may be another
/// build, or broken: anything it says that this process would trap on (a negative count, a
/// counter at the edge of overflow, an id it adds one to), would stall on (bytes in flight that
/// a pipe does not hold), or would put into a request path (a container id) is refused here,
/// and the takeover with it; the old process keeps serving. Every limit is far above what a
/// real Ganger sends.
public enum TakeoverChecks {
    /// Counters carried over (sessions, bytes, refusals): adding this much more cannot overflow.
    public static let maxCount = 1 << 53
    /// Bytes in flight in one direction (a pipe or a large buffer is at most 64 MiB).
    public static let maxInFlight = 1 << 30
    /// Sessions one takeover may announce.
    public static let maxSessions = 1 << 20
}

extension TakeoverHello {
    /// Refuses a hello this process would not log as is: its version is printed in the log
    /// line that announces the takeover, so it must be short, printable ASCII.
    public func check() throws(TakeoverError) {
        guard (1...64).contains(version.utf8.count), version.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw TakeoverError("the new process's version is not a version (1–64 printable characters)")
        }
        guard pid > 0 else { throw TakeoverError("the new process says its pid is \(pid)") }
    }
}

extension TakeoverState {
    /// One per listener, then the status listener's and the control socket's when it says so:
    /// the order `Inheritance` reads them in.
    public var expectedDescriptors: Int { listeners.count + (status ? 1 : 0) + (control ? 1 : 0) }

    /// Refuses a state this process could not take in: another instance, more descriptors than
    /// it describes, addresses that do not parse, counts out of range.
    public func check(instance expected: String, descriptors: Int) throws(TakeoverError) {
        guard instance == expected else { throw TakeoverError("the state is instance \(instance)'s, not \(expected)'s") }
        guard descriptors == expectedDescriptors else {
            throw TakeoverError("the state carries \(descriptors) descriptors, it describes \(expectedDescriptors)")
        }
        guard (0...TakeoverChecks.maxSessions).contains(sessions) else { throw TakeoverError("the state announces \(sessions) sessions") }
        for listener in listeners {
            guard !listener.service.isEmpty,
                  (try? HostPort.parseListen(listener.asked)) != nil, (try? HostPort.parseListen(listener.bound)) != nil else {
                throw TakeoverError("listener of service '\(listener.service)': '\(listener.asked)' bound at '\(listener.bound)' is not an address")
            }
        }
        let limit = UInt64(TakeoverChecks.maxCount)
        for entry in counters {
            let counts = [entry.sessionsTotal, entry.sessionsMax, entry.refusedQueueFull, entry.queueTimeouts, entry.refusedPerSource]
                + Array(entry.endReasons.values)
            guard counts.allSatisfy({ (0...TakeoverChecks.maxCount).contains($0) }), entry.bytesIn <= limit, entry.bytesOut <= limit else {
                throw TakeoverError("the counters of service '\(entry.service)' are out of range")
            }
        }
    }
}

extension TakeoverSession {
    /// Client, service, and a pipe's two ends per direction with bytes in flight: the order
    /// `Relay(resuming:)` reads them in.
    public var expectedDescriptors: Int { 2 + (relay.toService.inFlight > 0 ? 2 : 0) + (relay.toClient.inFlight > 0 ? 2 : 0) }

    /// Refuses a session whose description does not hold together (`now`: this host's monotonic
    /// clock, which the other process shares).
    public func check(now: UInt64) throws(TakeoverError) {
        func refuse(_ why: String) -> TakeoverError { TakeoverError("session \(id): \(why)") }
        guard id < UInt64.max else { throw refuse("no room for another id after it") }
        guard descriptors == expectedDescriptors else { throw refuse("\(descriptors) descriptors, its relay needs \(expectedDescriptors)") }
        for (name, direction) in [("to the service", relay.toService), ("to the client", relay.toClient)] {
            guard (0...TakeoverChecks.maxInFlight).contains(direction.inFlight) else { throw refuse("\(direction.inFlight) bytes in flight \(name)") }
            guard direction.bytes <= UInt64(TakeoverChecks.maxCount) else { throw refuse("\(direction.bytes) bytes delivered \(name)") }
            guard !direction.finished || (direction.sourceEOF && direction.inFlight == 0) else {
                throw refuse("finished \(name) before its end or with bytes in flight")
            }
        }
        guard DockerID.isValid(containerID) else { throw refuse("'\(containerID)' is not a container id") }
        if let holder, !DockerID.isValid(holder.containerID) { throw refuse("holder '\(holder.containerID)' is not a container id") }
        guard !service.isEmpty, !daemon.isEmpty else { throw refuse("no service or daemon") }
        guard acceptedAt <= now else { throw refuse("accepted after now") }
        if let first = relay.firstByteToClientAt, !(acceptedAt...now).contains(first) { throw refuse("first byte outside its life") }
    }
}

extension TakeoverSessions {
    /// Checks every session, that the batch carries exactly the descriptors its sessions need,
    /// and that no id repeats one already taken in (`seen` grows by this batch's).
    public func check(descriptors count: Int, seen: inout Set<UInt64>, now: UInt64) throws(TakeoverError) {
        var needed = 0
        for session in sessions {
            try session.check(now: now)
            guard seen.insert(session.id).inserted else { throw TakeoverError("session \(session.id) is described twice") }
            needed += session.descriptors
        }
        guard needed == count else { throw TakeoverError("a sessions message carries \(count) descriptors, its sessions need \(needed)") }
    }
}
