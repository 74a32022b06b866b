import CGangerShims

/// What a registration wants to hear about. Errors and hang-ups are always delivered.
public struct Interest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = Interest(rawValue: GANGER_EPOLLIN)
    public static let writable = Interest(rawValue: GANGER_EPOLLOUT)
    /// The peer shut its write side (EPOLLRDHUP): how a queued client's departure is seen.
    public static let readHangup = Interest(rawValue: GANGER_EPOLLRDHUP)
    public static let all: Interest = [.readable, .writable, .readHangup]
}

/// What the kernel reported for one descriptor in one `epoll_wait` round.
public struct IOEvents: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = IOEvents(rawValue: GANGER_EPOLLIN)
    public static let writable = IOEvents(rawValue: GANGER_EPOLLOUT)
    public static let readHangup = IOEvents(rawValue: GANGER_EPOLLRDHUP)
    public static let hangup = IOEvents(rawValue: GANGER_EPOLLHUP)
    public static let error = IOEvents(rawValue: GANGER_EPOLLERR)

    public var description: String {
        let names: [(IOEvents, String)] = [
            (.readable, "in"), (.writable, "out"), (.readHangup, "rdhup"), (.hangup, "hup"), (.error, "err"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: "|")
    }
}

/// A live registration: the descriptor number and the generation that tells it apart from a
/// later registration of the same number. Pass it back to `modify` and `deregister`.
public struct Registration: Hashable, Sendable {
    public let fd: CInt
    let generation: UInt32

    var packed: UInt64 { UInt64(UInt32(bitPattern: fd)) | UInt64(generation) << 32 }

    init(fd: CInt, generation: UInt32) {
        self.fd = fd
        self.generation = generation
    }

    init(packed: UInt64) {
        fd = CInt(bitPattern: UInt32(truncatingIfNeeded: packed))
        generation = UInt32(truncatingIfNeeded: packed >> 32)
    }
}
