import Glibc

/// Which end of a relay: the accepted client or the service it was joined to.
public enum RelaySide: String, Sendable, Equatable, Codable {
    case client, service
}

/// A failure while moving bytes, pinned to the side whose call failed.
struct RelayFault: Error {
    let side: RelaySide
    let error: SyscallError
}

/// A relay direction's state, handed from one process to another (takeover). The bytes in
/// flight travel as a pipe beside it.
public struct RelayDirectionState: Sendable, Codable, Equatable {
    /// Bytes delivered to the destination so far.
    public var bytes: UInt64
    public var sourceEOF: Bool
    /// The FIN was passed on (`shutdown(SHUT_WR)` done).
    public var finished: Bool
    /// Bytes read and not yet delivered (held by the pipe handed beside it).
    public var inFlight: Int

    public init(bytes: UInt64, sourceEOF: Bool, finished: Bool, inFlight: Int) {
        self.bytes = bytes
        self.sourceEOF = sourceEOF
        self.finished = finished
        self.inFlight = inFlight
    }
}

/// One direction of a relay (source socket → destination socket) and its half-close lifecycle:
/// open → source EOF seen → conduit flushed → `shutdown(dst, SHUT_WR)` → finished. The relay
/// owns both sockets and lends them to each `pump`.
///
/// Bytes move through a pipe with splice(2) (zero copy) or, where the kernel refuses splice
/// (EINVAL/ENOSYS) or the pool is out of pipes, through a fixed buffer with read/write. A fat
/// direction (one that has delivered `LargeBufferPool.fatAfter` bytes) copies through one of
/// the pool's large buffers while one is free: cheaper for the machine than splicing on
/// loopback and veth. The conduit is chosen whenever none is held, so nothing in flight is
/// ever reordered. Either way at most one conduit's worth is in flight: nothing is read that
/// the destination cannot take, so memory stays bounded whatever the peers do.
struct RelayDirection: ~Copyable {
    let sourceSide: RelaySide
    let destinationSide: RelaySide

    /// Edge-triggered readiness as last reported or learned from EAGAIN. Start optimistic: a
    /// spurious attempt costs one EAGAIN, a missed edge would cost the connection.
    var sourceReadable = true
    var destinationWritable = true
    private(set) var sourceEOF = false
    private(set) var finished = false
    /// Bytes delivered to the destination.
    private(set) var bytes: UInt64 = 0

    /// Bytes to deliver before anything read from the source (what a client sent early).
    private var prelude: [UInt8]
    private var preludeSent = 0

    /// The splice conduit while bytes move; it counts the bytes it holds.
    private var pipe: Pipe?
    /// The copy conduit: `buffered` bytes from `bufferHead` wait to be written.
    private var buffer: UnsafeMutableRawBufferPointer?
    /// `buffer` was lent by the pool's `largeBuffers` (and goes back there, not to free).
    private var bufferIsLarge = false
    private var bufferHead = 0
    private var buffered = 0
    /// Size of the small buffer allocated when this direction copies without a large one.
    private let bufferSize: Int
    /// Never splice again (forced, refused by the kernel, or the pool ran out of pipes).
    private var copyMode: Bool
    // splice gave EAGAIN with bytes in the pipe: source empty or pipe slots full, unknowable.
    // Try again only after the pipe drained some, so the loop cannot spin on it.
    private var fillBlocked = false
    /// The source socket's SO_RCVLOWAT is raised (see `fill`): the relay's quiet check must
    /// lower it again if the source goes quiet with fewer bytes queued.
    private(set) var lowWatermarkOn = false
    /// `bytes` from which the low-water mark may be raised again after a quiet source lowered it.
    private var lowWatermarkAllowedFrom: UInt64 = 0
    /// Reads that returned bytes (the quiet check's mark of progress).
    private(set) var reads: UInt64 = 0

    init(sourceSide: RelaySide, destinationSide: RelaySide, prelude: [UInt8], bufferSize: Int, forceCopy: Bool) {
        self.sourceSide = sourceSide
        self.destinationSide = destinationSide
        self.prelude = prelude
        self.bufferSize = bufferSize
        self.copyMode = forceCopy
    }

    /// A direction resumed from another process's (takeover): its counts and half-close state,
    /// and the pipe holding its in-flight bytes, which are delivered before anything new.
    init(sourceSide: RelaySide, destinationSide: RelaySide, resuming state: RelayDirectionState, pipe: consuming Pipe?,
         bufferSize: Int) {
        self.sourceSide = sourceSide
        self.destinationSide = destinationSide
        prelude = []
        self.bufferSize = bufferSize
        copyMode = false
        bytes = state.bytes
        sourceEOF = state.sourceEOF
        finished = state.finished
        self.pipe = pipe
    }

    // A relay always hands its conduits back when it closes (`releaseConduit`); a large buffer
    // still here would leave its pool counting it lent.
    deinit {
        assert(!bufferIsLarge, "a large buffer outlived its relay direction")
        buffer?.deallocate()
    }

    /// What another process needs to resume this direction (without its in-flight bytes).
    var state: RelayDirectionState {
        RelayDirectionState(bytes: bytes, sourceEOF: sourceEOF, finished: finished, inFlight: inFlight + prelude.count - preludeSent)
    }

    /// Copies of the pipe's ends, or a new pipe holding what waits in the copy buffer or the
    /// prelude; nil when nothing is in flight. This direction is left as it was (a takeover
    /// that fails resumes it).
    func handOffConduit() throws(SyscallError) -> [FileDescriptorBox] {
        if let ends = try pipe?.duplicateEnds() { return ends }
        var pending: [UInt8] = []
        if preludeSent < prelude.count { pending = Array(prelude[preludeSent...]) }
        if buffered > 0, let buffer { pending += UnsafeRawBufferPointer(rebasing: buffer[bufferHead..<(bufferHead + buffered)]) }
        guard !pending.isEmpty else { return [] }
        let fresh = try Pipe(holding: pending)
        return try fresh.duplicateEnds()
    }

    /// Drops the conduit without delivering it (its bytes were handed over): the pipe is
    /// closed, not pooled.
    mutating func abandonConduit(pool: PipePool) {
        if let pipe = pipe.take() { pool.discard(pipe) }
        buffered = 0
        releaseConduit(pool: pool)
    }

    /// The relay ended: whatever is in flight will never be delivered; every conduit goes back.
    mutating func dropConduit(pool: PipePool) {
        buffered = 0
        releaseConduit(pool: pool)
    }

    /// Waiting for its source with the low-water mark raised: bytes below it would wake no one.
    var waitsOnQuietSource: Bool { lowWatermarkOn && !sourceReadable && !sourceEOF && !finished }

    /// The source went quiet with the low-water mark raised: back to the default (a read
    /// follows at once, for whatever is queued), and not raised again for `fatAfter` bytes, so
    /// a stream that turned interactive is not held up at every pause.
    mutating func lowerLowWatermark(source: CInt, pool: PipePool) throws(RelayFault) {
        guard lowWatermarkOn else { return }
        do throws(SyscallError) { try Socket.setReceiveLowWatermark(source, 1) } catch { throw RelayFault(side: sourceSide, error: error) }
        lowWatermarkOn = false
        lowWatermarkAllowedFrom = bytes &+ pool.largeBuffers.fatAfter
        sourceReadable = true
    }

    var usesSplice: Bool { !copyMode }
    /// Whether a large buffer is lent to this direction right now.
    var holdsLargeBuffer: Bool { bufferIsLarge }
    var holdsPipe: Bool { pipe != nil }

    /// Stalled until the destination takes bytes: the conduit has no room (or the last fill
    /// was refused with bytes in it) and the destination said EAGAIN. A readable event on the
    /// source changes nothing then, so the relay may stop listening for them.
    var waitingForRoom: Bool {
        guard !finished, !sourceEOF, preludeSent == prelude.count, inFlight > 0, !destinationWritable else { return false }
        if fillBlocked { return true }
        switch pipe {
        case let .some(p): return p.space == 0
        case .none: return buffer.map { bufferHead + buffered == $0.count } ?? false
        }
    }

    /// Bytes read from the source and not yet written to the destination.
    private var inFlight: Int {
        switch pipe {
        case let .some(p): buffered + p.count
        case .none: buffered
        }
    }

    enum Outcome { case idle, budgetSpent, finished }

    /// Moves bytes from `source` to `destination` (borrowed from the relay) until neither side
    /// can go on, the direction finishes, or `budget` bytes have moved (the caller then comes
    /// back later, so one busy stream cannot starve others).
    mutating func pump(from source: CInt, to destination: CInt, pool: PipePool, budget: inout Int) throws(RelayFault) -> Outcome {
        if finished { return .idle }
        while true {
            var moved = false
            if preludeSent < prelude.count {
                if destinationWritable { moved = try sendPrelude(to: destination) }
            } else {
                if inFlight > 0 && destinationWritable {
                    switch try drain(to: destination) {
                    case .wouldBlock:
                        destinationWritable = false
                    case let .processed(n):
                        bytes += UInt64(n)
                        budget -= n
                        fillBlocked = false
                        moved = true
                    }
                }
                if !sourceEOF && sourceReadable && !fillBlocked {
                    let space = fillSpace(pool: pool)
                    if space > 0 {
                        switch try fill(from: source, space: space, pool: pool) {
                        case .wouldBlock:
                            if inFlight == 0 { sourceReadable = false } else { fillBlocked = true }
                        case .processed(0):
                            sourceEOF = true
                            moved = true
                        case .processed:
                            moved = true
                        }
                    }
                }
            }
            if sourceEOF && inFlight == 0 && preludeSent == prelude.count {
                finished = true
                releaseConduit(pool: pool)
                do throws(SyscallError) { try Socket.shutdown(destination, Int32(SHUT_WR)) } catch { throw RelayFault(side: destinationSide, error: error) }
                return .finished
            }
            if inFlight == 0 && !sourceReadable { releaseConduit(pool: pool) }
            if !moved { return .idle }
            if budget <= 0 { return .budgetSpent }
        }
    }

    /// Hands the pipe back to the pool (which kills it if bytes are stuck in it), and an empty
    /// buffer back to the large-buffer pool or to free.
    mutating func releaseConduit(pool: PipePool) {
        if let pipe = pipe.take() { pool.put(pipe) }
        if buffered == 0, let buffer {
            if bufferIsLarge { pool.largeBuffers.put(buffer) } else { buffer.deallocate() }
            self.buffer = nil
            bufferIsLarge = false
            bufferHead = 0
        }
    }

    /// Room for the next fill, choosing a conduit when none is held: a large buffer for a fat
    /// direction while one is free, else a pipe, else (no pipe to be had, or no splicing) a
    /// small buffer.
    private mutating func fillSpace(pool: PipePool) -> Int {
        // A direction that turns fat mid-stream swaps its empty conduit for a large buffer:
        // empty, so no byte in flight changes order.
        if !bufferIsLarge && inFlight == 0 && (pipe != nil || buffer != nil) && pool.largeBuffers.offers(after: bytes) {
            releaseConduit(pool: pool)
        }
        if pipe == nil && buffer == nil {
            if pool.largeBuffers.offers(after: bytes), let large = pool.largeBuffers.take() {
                buffer = large
                bufferIsLarge = true
            } else if !copyMode {
                if let fresh = pool.take() {
                    pipe = consume fresh
                } else {
                    copyMode = true  // the pool is exhausted: copying is slower but never stalls
                }
            }
            if pipe == nil && buffer == nil { buffer = .allocate(byteCount: bufferSize, alignment: 16) }
        }
        switch pipe {
        case let .some(p): return p.space
        case .none: break
        }
        guard let buffer else { return 0 }
        if buffered == 0 { bufferHead = 0 }
        return buffer.count - bufferHead - buffered
    }

    private mutating func fill(from source: CInt, space: Int, pool: PipePool) throws(RelayFault) -> IOResult<Int> {
        do throws(SyscallError) {
            if pipe == nil {
                let start = buffer!.baseAddress! + bufferHead + buffered
                let result = try Socket.read(source, into: UnsafeMutableRawBufferPointer(start: start, count: space))
                if case let .processed(n) = result, n > 0 {
                    buffered += n
                    reads &+= 1
                    // A fat stream copying: with the default low-water mark each arriving
                    // segment wakes the relay, which then reads tens of KiB at a time, a state
                    // that sustains itself and costs twice the CPU per byte (bench/README.md:
                    // 10.5 instead of 20 Gbit/s in a third of the runs). Woken only once a
                    // quarter of the buffer is queued, reads stay large. Raised after a read
                    // that found bytes (the stream is moving), lowered again by the relay's
                    // quiet check if the source pauses with less queued. Refused: the default
                    // stays, nothing breaks.
                    if bufferIsLarge && !lowWatermarkOn && bytes >= lowWatermarkAllowedFrom {
                        lowWatermarkOn = (try? Socket.setReceiveLowWatermark(source, buffer!.count / 4)) != nil
                    }
                }
                return result
            }
            let result = try pipe!.fill(from: source)  // up to the pipe's own `space`, as computed above
            if case let .processed(n) = result, n > 0 { reads &+= 1 }
            return result
        } catch where pipe != nil && inFlight == 0 && (error.errno == EINVAL || error.errno == ENOSYS) {
            // This pair of descriptors cannot splice (e.g. a socket type without splice_read):
            // fall back to copying for the rest of the connection.
            releaseConduit(pool: pool)
            copyMode = true
            return try fill(from: source, space: fillSpace(pool: pool), pool: pool)
        } catch {
            throw RelayFault(side: sourceSide, error: error)
        }
    }

    private mutating func drain(to destination: CInt) throws(RelayFault) -> IOResult<Int> {
        do throws(SyscallError) {
            if pipe == nil {
                let result = try Socket.write(destination, from: UnsafeRawBufferPointer(start: buffer!.baseAddress! + bufferHead, count: buffered))
                if case let .processed(n) = result {
                    bufferHead += n
                    buffered -= n
                }
                return result
            }
            return try pipe!.drain(to: destination)
        } catch {
            throw RelayFault(side: destinationSide, error: error)
        }
    }

    private mutating func sendPrelude(to destination: CInt) throws(RelayFault) -> Bool {
        let result: IOResult<Int>
        do throws(SyscallError) {
            // Array.withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
            result = try prelude.withUnsafeBytes { raw in
                Result { () throws(SyscallError) in
                    try Socket.write(destination, from: UnsafeRawBufferPointer(rebasing: raw[preludeSent...]))
                }
            }.get()
        } catch {
            throw RelayFault(side: destinationSide, error: error)
        }
        switch result {
        case .wouldBlock:
            destinationWritable = false
            return false
        case let .processed(n):
            preludeSent += n
            bytes += UInt64(n)
            if preludeSent == prelude.count { prelude = [] ; preludeSent = 0 }
            return true
        }
    }
}
