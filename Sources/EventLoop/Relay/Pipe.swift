import CGangerShims
import Glibc

/// A kernel pipe used as a splice buffer: owns both ends (closed when the pipe goes) and counts
/// the bytes it holds, so whoever ends up with it (a relay direction, the pool) knows whether
/// it is empty without asking the kernel.
struct Pipe: ~Copyable {
    let readEnd: FileDescriptor
    let writeEnd: FileDescriptor
    /// Bytes the pipe can hold, as granted by F_SETPIPE_SZ.
    let capacity: Int
    /// Bytes spliced in and not yet spliced out.
    private(set) var count = 0

    /// A new pipe (O_NONBLOCK|O_CLOEXEC) of about `size` bytes.
    init(size: Int) throws(SyscallError) {
        let (r, w, capacity) = try Splice.makePipe(size: size)
        readEnd = FileDescriptor(taking: r)
        writeEnd = FileDescriptor(taking: w)
        self.capacity = capacity
    }

    /// A pipe handed over by another process (Ganger's takeover): its two ends and the bytes
    /// it holds.
    init(readEnd: consuming FileDescriptor, writeEnd: consuming FileDescriptor, count: Int) {
        let size = Int(ganger_get_pipe_size(writeEnd.rawValue))
        self.readEnd = readEnd
        self.writeEnd = writeEnd
        self.capacity = max(size, count)
        self.count = count
    }

    /// A new pipe holding `bytes` (at most `size`), written at once: in-flight bytes of a copy
    /// buffer or a prelude, handed over as a pipe like any other.
    init(holding bytes: [UInt8]) throws(SyscallError) {
        let (r, w, capacity) = try Splice.makePipe(size: max(bytes.count, 1 << 16))
        let readEnd = FileDescriptor(taking: r)
        let writeEnd = FileDescriptor(taking: w)
        // Past fs.pipe-max-size without CAP_SYS_RESOURCE (startup refuses large buffers that
        // big, `RelayConfig.handOffProblem`), or past the user's pipe-pages limit.
        guard capacity >= bytes.count else {
            throw SyscallError("pipe for \(bytes.count) bytes in flight: the kernel granted \(capacity)", errno: EPERM)
        }
        let written = bytes.isEmpty ? 0 : bytes.withUnsafeBytes { Glibc.write(w, $0.baseAddress, $0.count) }
        if written != bytes.count { throw SyscallError("write(pipe)", errno: written < 0 ? errno : EAGAIN) }
        self.readEnd = readEnd
        self.writeEnd = writeEnd
        self.capacity = capacity
        count = bytes.count
    }

    /// Room left before the pipe is full.
    var space: Int { capacity - count }

    /// Splices up to `space` bytes from `source` into the pipe. `.processed(0)` is EOF.
    mutating func fill(from source: CInt) throws(SyscallError) -> IOResult<Int> {
        let result = try Splice.move(from: source, to: writeEnd.rawValue, count: capacity - count)
        if case let .processed(n) = result { count += n }
        return result
    }

    /// Splices what the pipe holds to `destination`, as much as it takes.
    mutating func drain(to destination: CInt) throws(SyscallError) -> IOResult<Int> {
        let result = try Splice.move(from: readEnd.rawValue, to: destination, count: count)
        if case let .processed(n) = result { count -= n }
        return result
    }
}

extension Pipe {
    /// CLOEXEC copies of both ends, read end first (the pipe stays this owner's).
    func duplicateEnds() throws(SyscallError) -> [FileDescriptorBox] {
        [FileDescriptorBox(try DescriptorPassing.duplicate(readEnd.rawValue)),
         FileDescriptorBox(try DescriptorPassing.duplicate(writeEnd.rawValue))]
    }
}

extension Pipe {
    /// Whether `fd` is a pipe end (a takeover's descriptors are checked before use).
    static func isPipe(_ fd: CInt) -> Bool {
        var status = stat()
        return fstat(fd, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO
    }

    /// Bytes waiting in a pipe (FIONREAD), or -1.
    static func bytesQueued(_ fd: CInt) -> Int { Int(ganger_bytes_queued(fd)) }
}
