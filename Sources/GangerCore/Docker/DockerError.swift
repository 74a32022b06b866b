import EventLoop
import Glibc

/// A failed Docker call: which daemon, which call, and what it said.
public struct DockerError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// The daemon answered with an error status; `message` is its own words.
        case status(Int)
        /// No usable answer: connect, I/O, timeout or a malformed response.
        case transport(String)
        /// The answer's JSON did not have the expected shape.
        case decoding(String)
        /// This host ran short (no descriptor, no buffer) before the daemon was reached: not
        /// the daemon's fault, so it does not count against its health.
        case local(String)
    }

    public let daemon: String
    public let call: String
    public let kind: Kind
    public let message: String

    public var description: String {
        switch kind {
        case let .status(code): "docker \(daemon): \(call): \(code) \(message)"
        case .transport, .decoding, .local: "docker \(daemon): \(call): \(message)"
        }
    }

    /// The daemon answered 404 (no such container or image).
    public var isNotFound: Bool {
        if case .status(404) = kind { return true }
        return false
    }

    /// The daemon answered, but not what the call asks for: an error status (it refused: no
    /// such image, no space left), or a body of the wrong shape (a broken or hostile remote
    /// daemon). Either way it made nothing usable, and asking it again soon would not help.
    public var isRefusal: Bool {
        switch kind {
        case .status, .decoding: true
        case .transport, .local: false
        }
    }

    /// This host ran short before the daemon was reached (`.local`).
    public var isLocal: Bool {
        if case .local = kind { return true }
        return false
    }

    /// The daemon could not be reached or did not answer in time: it counts against its health.
    public var isTransport: Bool {
        if case .transport = kind { return true }
        return false
    }

    /// No complete answer in time: the daemon may be busy rather than gone.
    public var isTimeout: Bool {
        guard case .transport = kind else { return false }
        return message.hasPrefix("no complete response within")
    }

    /// A local shortage (EMFILE…, `HTTPClientError.isLocalShortage`) is `.local`, anything
    /// else that kept the answer away is `.transport`. A socket that refused this user (EACCES:
    /// the usual first run, neither root nor in the socket's group) says what to do, wherever
    /// the error is shown (the startup's exit message, a daemon's last error).
    static func transport(_ daemon: String, _ call: String, _ error: HTTPClientError) -> DockerError {
        if error.isLocalShortage {
            return DockerError(daemon: daemon, call: call, kind: .local(error.description),
                               message: "\(error.description) (short of descriptors or memory here, not the daemon's fault)")
        }
        let message = error.systemErrno == EACCES
            ? error.description + "; this user may not use the socket: run ganger as root, or as a member of the group that owns the socket (usually docker)"
            : error.description
        return DockerError(daemon: daemon, call: call, kind: .transport(error.description), message: message)
    }
}
