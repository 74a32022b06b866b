import Glibc

/// A unix datagram socket standing in for systemd's notification socket: bound to a path (in
/// a directory of its own under /tmp, removed with the value) or to an abstract `@name`; each
/// `receive` returns one datagram's text.
public final class DatagramReceiver: @unchecked Sendable {
    // One test thread reads it; the descriptor is closed once, in deinit.
    private let fd: CInt
    private let directory: String?
    /// What to put in `NOTIFY_SOCKET`: the path, or `@name`.
    public let address: String

    /// `abstract`: bind `@ganger-test-<random>` instead of a path.
    public init(abstract: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DatagramError("socket: \(String(cString: strerror(errno)))") }
        var bytes: [UInt8]
        if abstract {
            directory = nil
            address = "@ganger-test-\(randomTag())"
            bytes = Array(address.utf8)
            bytes[0] = 0
        } else {
            var template = Array("/tmp/ganger-notify-XXXXXX".utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
                Glibc.close(fd)
                throw DatagramError("mkdtemp: \(String(cString: strerror(errno)))")
            }
            directory = String(cString: made)
            address = directory! + "/notify"
            bytes = Array(address.utf8) + [0]
        }
        var un = sockaddr_un()
        un.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &un.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count)
        let rc = withUnsafePointer(to: &un) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard rc == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            if let directory { rmdir(directory) }
            throw DatagramError("bind \(address): \(message)")
        }
    }

    deinit {
        Glibc.close(fd)
        if let directory {
            unlink(directory + "/notify")
            rmdir(directory)
        }
    }

    /// The next datagram's text, or nil when none arrives within `timeout`.
    public func receive(timeout: Duration) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let millis = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard Glibc.poll(&p, 1, max(millis, 0)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

/// A failure setting up the receiver.
public struct DatagramError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
