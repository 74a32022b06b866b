import Glibc

/// A random lowercase hex string, for names no other test (or run) uses.
public func randomTag(_ length: Int = 8) -> String {
    String((0..<length).map { _ in "0123456789abcdef".randomElement()! })
}

private let urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

/// Random bytes from the kernel.
public func randomBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = Glibc.read(urandom, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            precondition(n > 0, "/dev/urandom")
            offset += n
        }
    }
    return bytes
}
