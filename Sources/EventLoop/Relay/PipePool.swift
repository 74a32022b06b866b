/// A bounded pool of splice pipes, as HAProxy keeps (`maxpipes`).
///
/// A relay direction takes a pipe only while bytes are moving and gives it back once the pipe
/// is empty and the source is drained, so thousands of idle connections hold no pipes at all.
/// The pool decides what happens to a pipe given back (HAProxy's `put_pipe`): one that still
/// holds bytes is killed (both ends closed), since its bytes belong to a dead connection and
/// would reach the next one; an empty one is kept while fewer than `maxIdle` wait, else closed.
///
/// The pool also lends the few large copy buffers that fat streams use instead of a pipe
/// (`largeBuffers`): one supply of conduits for every relay on the loop.
public final class PipePool {
    // A stack of `maxIdle` slots allocated once: `[Pipe]` cannot hold a non-copyable element,
    // and taking or putting a pipe must not allocate.
    private let idle: UnsafeMutablePointer<Pipe>
    /// Idle pipes waiting in the pool.
    public private(set) var idleCount = 0
    /// Pipes that exist, pooled or lent out.
    public private(set) var liveCount = 0
    public let maxPipes: Int
    public let pipeSize: Int
    /// Idle pipes kept open for reuse; beyond that, returned pipes are closed.
    public let maxIdle: Int
    /// Copy buffers for fat streams (see `LargeBufferPool`).
    public let largeBuffers: LargeBufferPool
    /// Pipes the kernel made smaller than `pipeSize`, since start. Without CAP_SYS_RESOURCE (or
    /// CAP_SYS_ADMIN), once this user's pipes hold `fs.pipe-user-pages-soft` pages (16384: 64 MiB,
    /// shared with every process of the same uid, the host's root included for a container
    /// without a user namespace), F_SETPIPE_SZ is refused and new pipes get 2 pages: the relay
    /// stays correct but moves 8 KiB per splice.
    public private(set) var smallPipes = 0
    /// Called once, at the first small pipe, with its size (the supervisor logs a warning).
    public var onFirstSmallPipe: ((Int) -> Void)?
    private let makePipe: (Int) throws(SyscallError) -> Pipe

    public convenience init(maxPipes: Int = 20_000, pipeSize: Int = 1 << 20, maxIdle: Int = 64,
                            largeBuffers: LargeBufferPool = LargeBufferPool()) {
        self.init(maxPipes: maxPipes, pipeSize: pipeSize, maxIdle: maxIdle, largeBuffers: largeBuffers) { size throws(SyscallError) in
            try Pipe(size: size)
        }
    }

    /// `makePipe`: how a pipe of a size is made (tests give one that the kernel "refuses").
    init(maxPipes: Int, pipeSize: Int, maxIdle: Int, largeBuffers: LargeBufferPool,
         makePipe: @escaping (Int) throws(SyscallError) -> Pipe) {
        self.maxPipes = maxPipes
        self.pipeSize = pipeSize
        self.maxIdle = max(0, maxIdle)
        self.largeBuffers = largeBuffers
        self.makePipe = makePipe
        idle = .allocate(capacity: max(1, maxIdle))
    }

    deinit {
        idle.deinitialize(count: idleCount)
        idle.deallocate()
    }

    /// A pipe, or nil when `maxPipes` are out or the kernel refuses one (the caller then copies
    /// through a buffer instead).
    func take() -> Pipe? {
        if idleCount > 0 {
            idleCount -= 1
            return (idle + idleCount).move()
        }
        guard liveCount < maxPipes else { return nil }
        do {
            let pipe = try makePipe(pipeSize)
            liveCount += 1
            if pipe.capacity < pipeSize {
                smallPipes += 1
                if smallPipes == 1 { onFirstSmallPipe?(pipe.capacity) }
            }
            return pipe
        } catch {
            return nil
        }
    }

    /// Counts a pipe that came from elsewhere (a takeover) and will be `put` here.
    func adopted() { liveCount += 1 }

    /// Closes a pipe without pooling it, whatever it holds (its bytes were handed over).
    func discard(_ pipe: consuming Pipe) {
        liveCount -= 1
        _ = consume pipe
    }

    /// Takes a pipe back: pooled if empty, full-sized and there is room, otherwise closed. A
    /// small pipe is not kept: the next `take` may get a full one again once this user's pipes
    /// fit the kernel's budget.
    func put(_ pipe: consuming Pipe) {
        guard pipe.count == 0, pipe.capacity >= pipeSize, idleCount < maxIdle else {
            liveCount -= 1
            return  // `pipe` ends here, closing both ends
        }
        (idle + idleCount).initialize(to: pipe)
        idleCount += 1
    }
}
