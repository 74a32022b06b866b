/// A few large copy buffers for the streams that move the most bytes ("fat" streams).
///
/// Splicing is zero-copy, yet on loopback and veth it costs the machine more per byte than
/// copying through a large buffer: a spliced segment carries the page fragments it arrived in,
/// and delivering such segments costs more softirq work than the socket's own large fragments
/// (bench/README.md, issue 17: one stream copied through 1 MiB buffers moved 10–40 % more bytes
/// per second at 0.54–0.80× HAProxy's whole-machine CPU per byte; splice sat at 1.0–1.4×).
/// With a thousand small connections copying loses, and it holds memory per connection; so a
/// relay direction splices until it has delivered `fatAfter` bytes, and only then borrows one
/// of these buffers, while one is free. Everything else keeps splicing.
///
/// Like `PipePool`'s pipes, a buffer is held only while bytes are in flight: a direction hands
/// it back whenever its source runs dry, and the pool keeps it (allocated once, at most
/// `maxBuffers` of them) for the next fat burst. Memory is bounded by
/// `maxBuffers × bufferSize` (8 MiB with 8 buffers), allocated only once a fat stream appears.
///
/// Off by default (`maxBuffers` 0): the design asks for zero-copy splice proxying, and copying
/// has a cost of its own on a saturated machine (bench/README.md: a third of the rounds on 2
/// cores ran at half speed until the low-water mark; some still do). `relay.large_buffers`
/// turns it on.
public final class LargeBufferPool {
    /// Buffers that may exist at once; 0 turns fat streams off (everything splices).
    public let maxBuffers: Int
    public let bufferSize: Int
    /// Bytes a direction delivers before it counts as fat.
    public let fatAfter: UInt64
    /// Buffers lent out now.
    public private(set) var inUse = 0
    /// Times a buffer was lent (tests and the bench read it).
    public private(set) var lent = 0
    // Allocated buffers not lent out: reused, freed only with the pool.
    private var idle: [UnsafeMutableRawBufferPointer] = []

    public static let defaultBufferSize = 1 << 20
    public static let defaultFatAfter: UInt64 = 8 << 20

    public init(maxBuffers: Int = 0, bufferSize: Int = defaultBufferSize, fatAfter: UInt64 = defaultFatAfter) {
        self.maxBuffers = max(0, maxBuffers)
        self.bufferSize = max(4096, bufferSize)
        self.fatAfter = fatAfter
        idle.reserveCapacity(self.maxBuffers)
    }

    deinit {
        for buffer in idle { buffer.deallocate() }
    }

    /// Whether a direction that has delivered `bytes` could get a buffer now.
    func offers(after bytes: UInt64) -> Bool {
        bytes >= fatAfter && inUse < maxBuffers
    }

    /// A buffer of `bufferSize` bytes, or nil when all are lent out.
    func take() -> UnsafeMutableRawBufferPointer? {
        guard inUse < maxBuffers else { return nil }
        inUse += 1
        lent += 1
        return idle.popLast() ?? .allocate(byteCount: bufferSize, alignment: 16)
    }

    /// The size of pipe the kernel grants this process when asked for a whole buffer. A
    /// takeover hands a buffer's bytes in flight to the other process in one pipe
    /// (`Pipe(holding:)`), so a buffer larger than this could not be handed over full: without
    /// CAP_SYS_RESOURCE a pipe stops at `fs.pipe-max-size` (1 MiB by default), and Docker's
    /// default capabilities do not include it. Asked once at startup.
    /// Past what it allows, F_SETPIPE_SZ refuses outright, so the ask is halved until granted.
    public func grantedPipeSize() throws(SyscallError) -> Int {
        var asked = bufferSize
        while true {
            let (r, w, granted) = try Splice.makePipe(size: asked)
            FileDescriptor(taking: r).close()
            FileDescriptor(taking: w).close()
            if granted >= asked || asked <= 1 << 16 { return granted }
            asked /= 2
        }
    }

    /// Takes a buffer back (its bytes no longer matter).
    func put(_ buffer: UnsafeMutableRawBufferPointer) {
        precondition(inUse > 0, "LargeBufferPool: a buffer came back that was not lent")
        inUse -= 1
        idle.append(buffer)
    }
}
