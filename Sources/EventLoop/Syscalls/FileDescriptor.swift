import Glibc

/// The one owner of a file descriptor: closed exactly once, by construction.
///
/// Non-copyable, so two owners cannot exist. `deinit` closes; `close()` closes now; `release()`
/// hands the raw number to a new owner (e.g. a pool) without closing. Borrow `rawValue` for
/// calls; never close it behind the owner's back.
public struct FileDescriptor: ~Copyable, Sendable {
    public let rawValue: CInt

    /// Takes ownership of `rawValue`, which must be open and owned by no one else.
    public init(taking rawValue: CInt) {
        precondition(rawValue >= 0, "negative file descriptor")
        self.rawValue = rawValue
    }

    deinit { Self.closeRaw(rawValue) }

    /// Closes the descriptor now.
    public consuming func close() {
        Self.closeRaw(rawValue)
        discard self
    }

    /// Gives up ownership without closing; the caller now owns the returned number.
    public consuming func release() -> CInt {
        let fd = rawValue
        discard self
        return fd
    }

    // close(2) is never retried on EINTR: on Linux the descriptor is released before the
    // interruption is reported, and a retry could close a number reused by another thread.
    static func closeRaw(_ fd: CInt) {
        let rc = Glibc.close(fd)
        precondition(rc == 0 || Glibc.errno != EBADF, "close(\(fd)): EBADF, closed twice")
    }
}

extension Optional where Wrapped == FileDescriptor {
    /// The held descriptor's number, borrowed for a call, or -1 once the owner let it go: a call
    /// on -1 fails with EBADF instead of reaching whatever descriptor reused a closed number.
    /// This is how a class that closes its descriptor early (an `Optional` set to nil) reads it,
    /// rather than keeping a raw copy beside the owner.
    public var rawValueOrInvalid: CInt {
        switch self {
        case let .some(fd): fd.rawValue
        case .none: -1
        }
    }
}
