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
}
