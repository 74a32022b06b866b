@testable import EventLoop
@testable import GangerCore
import Testing

@Suite struct RelayConfigTests {
    private func parse(_ extra: String) throws -> GangerConfig { try parseOneServiceConfig(extra) }

    private func problems(_ extra: String) -> String {
        do {
            _ = try parse(extra)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func defaults_noLargeBuffers_soEveryByteIsSpliced_andThePoolFollows() throws {
        let config = try parse("")
        #expect(config.relay == RelayConfig(largeBuffers: 0, largeBufferSize: ByteSize(bytes: 1 << 20), fatAfter: ByteSize(bytes: 8 << 20)))
        let pool = config.relay.makePipePool()
        #expect(pool.largeBuffers.maxBuffers == 0 && pool.largeBuffers.bufferSize == 1 << 20 && pool.largeBuffers.fatAfter == 8 << 20)
    }

    @Test func values_areRead_renderBack_andReachThePool() throws {
        let config = try parse("relay: {large_buffers: 8, large_buffer_size: 256k, fat_after: 64m}")
        #expect(config.relay == RelayConfig(largeBuffers: 8, largeBufferSize: ByteSize(bytes: 256 << 10), fatAfter: ByteSize(bytes: 64 << 20)))
        #expect(try ConfigLoader.parse(yaml: config.renderYAML(), source: "rendered", environment: [:]) == config)
        let pool = config.relay.makePipePool()
        #expect(pool.largeBuffers.maxBuffers == 8 && pool.largeBuffers.bufferSize == 256 << 10 && pool.largeBuffers.fatAfter == 64 << 20)
    }

    @Test(arguments: [
        ("relay: {large_buffers: -1}", "relay.large_buffers"),
        ("relay: {large_buffers: 5000}", "relay.large_buffers"),
        ("relay: {large_buffer_size: 4k}", "relay.large_buffer_size"),
        ("relay: {large_buffer_size: 1g}", "relay.large_buffer_size"),
        ("relay: {fat_after: lots}", "relay.fat_after"),
        ("relay: {pipes: 3}", "relay.pipes"),
    ])
    func aBadValue_isRefused_namingTheKey(yaml: String, key: String) {
        let text = problems(yaml)
        #expect(text.contains(key), "\(yaml): \(text)")
    }

    /// A takeover hands a large buffer's bytes over in one pipe: a buffer bigger than the pipe
    /// this process may have is refused at startup, named with the size it may use.
    @Test(arguments: [
        (8, 4 << 20, 1 << 20, "relay.large_buffer_size 4m is more than a pipe may hold in this process (the kernel granted 1m)"),
        (8, 1 << 20, 1 << 20, nil),
        (8, 256 << 10, 1 << 20, nil),
        (0, 64 << 20, 1 << 20, nil),  // copying off: no buffer is ever handed over
    ] as [(Int, Int64, Int, String?)])
    func handOffProblem_whenABufferOutgrowsThePipeGranted(buffers: Int, size: Int64, granted: Int, expected: String?) {
        let relay = RelayConfig(largeBuffers: buffers, largeBufferSize: ByteSize(bytes: size))
        let problem = relay.handOffProblem(grantedPipeSize: granted)
        if let expected {
            #expect(problem?.hasPrefix(expected) == true, "\(problem ?? "nil")")
            #expect(problem?.contains("Use at most 1m") == true, "\(problem ?? "nil")")
        } else {
            #expect(problem == nil)
        }
    }

    /// The probe asks the kernel for a real pipe of a buffer's size, and gets at least what
    /// `fs.pipe-max-size` allows anyone (more with CAP_SYS_RESOURCE); the refusal without that
    /// capability is GangerStartupTests'.
    @Test func grantedPipeSize_isWhatTheKernelGives() throws {
        let text = String(decoding: try #require(readFile("/proc/sys/fs/pipe-max-size")), as: UTF8.self)
        let pipeMaxSize = try #require(Int(text.filter(\.isNumber)))
        for size in [256 << 10, 4 << 20] {
            let granted = try LargeBufferPool(maxBuffers: 1, bufferSize: size).grantedPipeSize()
            #expect(granted >= min(size, pipeMaxSize), "asked \(size), granted \(granted), fs.pipe-max-size \(pipeMaxSize)")
        }
    }
}
