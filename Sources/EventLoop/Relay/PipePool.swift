/// A bounded pool of splice pipes, as HAProxy keeps (`maxpipes`).
///
/// A relay direction takes a pipe only while bytes are moving and gives it back once the pipe
/// is empty and the source is drained, so thousands of idle connections hold no pipes at all.
/// A pipe that still holds bytes must be killed (closed), never pooled: its bytes belong to a
/// dead connection.
public final class PipePool {
    private var idle: [(CInt, CInt, Int)] = []
    /// Pipes that exist, pooled or lent out.
    public private(set) var liveCount = 0
    public let maxPipes: Int
    public let pipeSize: Int
    /// Idle pipes kept open for reuse; beyond that, returned pipes are closed.
    public let maxIdle: Int

    public init(maxPipes: Int = 20_000, pipeSize: Int = 1 << 20, maxIdle: Int = 64) {
        self.maxPipes = maxPipes
        self.pipeSize = pipeSize
        self.maxIdle = maxIdle
    }

    deinit {
        for (r, w, _) in idle {
            FileDescriptor.closeRaw(r)
            FileDescriptor.closeRaw(w)
        }
    }

    public var idleCount: Int { idle.count }

    /// A pipe, or nil when `maxPipes` are out or the kernel refuses one (the caller then copies
    /// through a buffer instead).
    func take() -> Pipe? {
        if let (r, w, capacity) = idle.popLast() { return Pipe(readEnd: r, writeEnd: w, capacity: capacity) }
        guard liveCount < maxPipes, let (r, w, capacity) = try? Splice.makePipe(size: pipeSize) else { return nil }
        liveCount += 1
        return Pipe(readEnd: r, writeEnd: w, capacity: capacity)
    }

    /// Returns an empty pipe for reuse.
    func put(_ pipe: consuming Pipe) {
        guard idle.count < maxIdle else { return kill(pipe) }
        idle.append(pipe.release())
    }

    /// Closes a pipe that may hold stale bytes.
    func kill(_ pipe: consuming Pipe) {
        liveCount -= 1
        _ = consume pipe
    }
}
