import Glibc

/// A directory under /tmp, removed (with what is in it) with the value.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/ganger-itest-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    deinit { _ = try? run("/bin/rm", ["-rf", path], timeout: .seconds(30)) }
}
