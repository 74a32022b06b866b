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
