public import EventLoop

/// The relay's conduits (`relay:`): how many fat streams may copy through a large buffer
/// instead of splicing (`LargeBufferPool`, docs/operations.md). Read at startup; a reload
/// that changes it is refused (the buffers are shared by every running session).
public struct RelayConfig: Sendable, Equatable {
    /// Large copy buffers at once (`large_buffers`); 0 (the default) = every byte is spliced,
    /// as the design asks; copying fat streams is an opt-in, measured in bench/README.md.
    public var largeBuffers: Int
    /// Each buffer's size (`large_buffer_size`).
    public var largeBufferSize: ByteSize
    /// Bytes a direction delivers before it counts as fat (`fat_after`).
    public var fatAfter: ByteSize

    public static let maxLargeBuffers = 1024
    public static let largeBufferSizes = ByteSize(bytes: 64 << 10)...ByteSize(bytes: 64 << 20)

    public init(largeBuffers: Int = 0, largeBufferSize: ByteSize = ByteSize(bytes: Int64(LargeBufferPool.defaultBufferSize)),
                fatAfter: ByteSize = ByteSize(bytes: Int64(LargeBufferPool.defaultFatAfter))) {
        self.largeBuffers = largeBuffers
        self.largeBufferSize = largeBufferSize
        self.fatAfter = fatAfter
    }

    /// The supply of conduits every relay of this process borrows from.
    public func makePipePool() -> PipePool {
        PipePool(largeBuffers: LargeBufferPool(maxBuffers: largeBuffers, bufferSize: Int(largeBufferSize.bytes),
                                               fatAfter: UInt64(fatAfter.bytes)))
    }

    /// Why this process could not hand a full large buffer over in a takeover, given the pipe
    /// size the kernel grants it for one (`LargeBufferPool.grantedPipeSize`), or nil. Checked
    /// at startup: refused then, not at the first takeover that meets a full buffer.
    public func handOffProblem(grantedPipeSize granted: Int) -> String? {
        guard largeBuffers > 0, granted < largeBufferSize.bytes else { return nil }
        return "relay.large_buffer_size \(largeBufferSize) is more than a pipe may hold in this process "
            + "(the kernel granted \(ByteSize(bytes: Int64(granted)))): a takeover hands a buffer's bytes over in one pipe. "
            + "Use at most \(ByteSize(bytes: Int64(granted))), or raise fs.pipe-max-size, or give the process CAP_SYS_RESOURCE"
    }

    static func decode(_ node: YAMLNode?, at path: String, _ decoder: ConfigDecoder) -> RelayConfig {
        var config = RelayConfig()
        guard let f = decoder.fields(node, at: path, known: ["large_buffers", "large_buffer_size", "fat_after"]) else { return config }
        config.largeBuffers = decoder.int(f, "large_buffers", default: config.largeBuffers, minimum: 0, hint: "0 = splice every byte")
        if config.largeBuffers > maxLargeBuffers {
            decoder.fail(f.path("large_buffers"), "\(config.largeBuffers) is more than \(maxLargeBuffers)")
        }
        config.largeBufferSize = decoder.size(f, "large_buffer_size", default: config.largeBufferSize)
        if !largeBufferSizes.contains(config.largeBufferSize) {
            decoder.fail(f.path("large_buffer_size"), "\(config.largeBufferSize) is outside \(largeBufferSizes.lowerBound)–\(largeBufferSizes.upperBound)")
        }
        config.fatAfter = decoder.size(f, "fat_after", default: config.fatAfter)
        return config
    }

    /// Its block for `ganger check`'s rendering.
    var rendered: String {
        "relay: {large_buffers: \(largeBuffers), large_buffer_size: \(largeBufferSize), fat_after: \(fatAfter)}"
    }
}
