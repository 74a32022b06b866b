import CTestCrypto
import Glibc
import Synchronization
import TestSupport

/// Incremental SHA-256 (libcrypto's EVP interface).
final class SHA256Stream: @unchecked Sendable {
    private let context: OpaquePointer

    init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: ArraySlice<UInt8>) { bytes.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) } }

    func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return out
    }
}

/// `count` echo sessions that stream random bytes both ways at once until `stop()`: each
/// client sends 16 KiB chunks (a few hundred KiB/s each), reads the echo as it comes, then
/// half-closes and reads to the end. Each side's bytes are counted and hashed (SHA-256), so a
/// lost, doubled or reordered byte, or a reset, shows.
///
/// A sender blocks for as long as the run may last: a queued session (its container not yet
/// started) holds the client's bytes unread, and on a loaded dockerd the last of 50 sessions can
/// wait well over a minute. A sender that gave up earlier (its own timeout, 30 s once) made its
/// session look stopped later although the relay was fine (CI, stop 22). `flowing` counts only
/// sessions whose sender still runs, and `senderErrors` says why one stopped.
final class StreamingSessions: @unchecked Sendable {
    struct Outcome: Sendable, CustomStringConvertible {
        var sent: Int
        var received: Int
        var sentDigest: [UInt8]
        var receivedDigest: [UInt8]
        var end: Client.End
        var error: String?
        var intact: Bool { error == nil && end == .eof && sent == received && sentDigest == receivedDigest }
        var description: String { "sent \(sent), received \(received), end \(end), digests \(sentDigest == receivedDigest ? "equal" : "differ")\(error.map { ", \($0)" } ?? "")" }
    }

    let clients: [Client]
    private let stopped = Atomic<Bool>(false)
    private let receivedBytes: Mutex<[Int]>
    private let senderEnded: Mutex<[String?]>

    init(address: String, count: Int) throws {
        clients = try (0..<count).map { _ in try Client(address, timeout: .seconds(10)) }
        receivedBytes = Mutex([Int](repeating: 0, count: count))
        senderEnded = Mutex([String?](repeating: nil, count: count))
        for client in clients { client.setTimeouts(.seconds(1)) }
    }

    /// Sessions that received at least `bytes` echoed so far and still send.
    func flowing(atLeast bytes: Int = 1) -> Int {
        let ended = senderEnded.withLock { $0 }
        return receivedBytes.withLock { received in received.indices.filter { received[$0] >= bytes && ended[$0] == nil }.count }
    }

    /// Why each sender that stopped before `stop()` stopped (index: reason).
    func senderErrors() -> [Int: String] {
        senderEnded.withLock { ended in
            Dictionary(uniqueKeysWithValues: ended.indices.compactMap { index in ended[index].map { (index, $0) } })
        }
    }

    func received(_ index: Int) -> Int { receivedBytes.withLock { $0[index] } }

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Streams until `stop()`, then finishes; at most `limit` overall.
    func run(limit: Duration = .seconds(240)) async throws -> [Outcome] {
        let deadline = ContinuousClock.now + limit
        return try await onThreads(clients.count * 2) { [self] index -> Outcome in
            let client = clients[index / 2]
            return index % 2 == 0 ? send(client, index / 2, deadline: deadline) : receive(client, index / 2, deadline: deadline)
        }.chunked()
    }

    private func send(_ client: Client, _ index: Int, deadline: ContinuousClock.Instant) -> Outcome {
        let digest = SHA256Stream()
        var generator = SystemRandomNumberGenerator()
        var sent = 0
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while !stopped.load(ordering: .relaxed) && ContinuousClock.now < deadline {
            for index in chunk.indices { chunk[index] = UInt8.random(in: 0...255, using: &generator) }
            do {
                try client.sendAll(chunk, timeout: max(deadline - ContinuousClock.now, .seconds(1)))
            } catch {
                senderEnded.withLock { $0[index] = "\(error)" }
                return Outcome(sent: sent, received: 0, sentDigest: digest.finish(), receivedDigest: [], end: .eof, error: "send: \(error)")
            }
            digest.update(chunk[...])
            sent += chunk.count
            usleep(20_000)
        }
        _ = try? client.shutdownWrite()
        return Outcome(sent: sent, received: 0, sentDigest: digest.finish(), receivedDigest: [], end: .eof)
    }

    private func receive(_ client: Client, _ index: Int, deadline: ContinuousClock.Instant) -> Outcome {
        let digest = SHA256Stream()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var received = 0
        while ContinuousClock.now < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                let end: Client.End = errno == ECONNRESET ? .reset : .eof
                return Outcome(sent: 0, received: received, sentDigest: [], receivedDigest: digest.finish(), end: end,
                               error: "recv: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return Outcome(sent: 0, received: received, sentDigest: [], receivedDigest: digest.finish(), end: .eof) }
            digest.update(chunk[0..<n])
            received += n
            receivedBytes.withLock { [received] in $0[index] = received }
        }
        return Outcome(sent: 0, received: received, sentDigest: [], receivedDigest: digest.finish(), end: .timedOut)
    }
}

private extension Array where Element == StreamingSessions.Outcome {
    /// Sender and receiver outcomes (in pairs) joined into one per session.
    func chunked() -> [StreamingSessions.Outcome] {
        stride(from: 0, to: count, by: 2).map { index in
            var joined = self[index]
            let other = self[index + 1]
            joined.received = other.received
            joined.receivedDigest = other.receivedDigest
            joined.end = other.end
            joined.error = joined.error ?? other.error
            return joined
        }
    }
}
