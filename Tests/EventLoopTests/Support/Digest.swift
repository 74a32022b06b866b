import CTestCrypto
import Glibc
import TestSupport

/// Incremental SHA-256 through libcrypto's EVP interface.
final class SHA256Digest: @unchecked Sendable {
    private let context: OpaquePointer

    init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    func finish() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return out.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

/// Streams `total` random bytes to `fd` in 1 MiB chunks; returns their SHA-256.
func sendRandom(_ fd: CInt, total: Int) throws -> String {
    let digest = SHA256Digest()
    var left = total
    while left > 0 {
        let chunk = randomBytes(min(left, 1 << 20))
        chunk.withUnsafeBytes { digest.update($0) }
        try BlockingSocket.sendAll(fd, chunk)
        left -= chunk.count
    }
    return digest.finish()
}

/// Reads `fd` to EOF; returns the byte count and SHA-256.
func receiveDigest(_ fd: CInt) throws -> (count: Int, sha256: String) {
    let digest = SHA256Digest()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var count = 0
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        try BlockingSocket.check(n, "recv")
        if n == 0 { return (count, digest.finish()) }
        chunk.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        count += n
    }
}
