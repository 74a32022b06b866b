import CGangerShims
import Glibc

/// Why TLS failed: the step and OpenSSL's own words (its error queue), or the file concerned.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ what: String) {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(cString: buffer))
        }
        description = reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))"
    }
}

/// A client TLS configuration for mutual TLS with a Docker daemon (`--tlsverify`): the CA that
/// signed the daemon's certificate, and our certificate and key. TLS 1.2 at least; the peer's
/// certificate is verified against the CA and the host (IP SAN for a numeric host, DNS name
/// otherwise). The PEM files are read here, once (blocking: at startup or when a daemon joins).
public final class TLSContext: @unchecked Sendable {
    // SSL_CTX is reference-counted and safe to share once configured; only read from here on.
    let context: OpaquePointer

    /// - Throws: naming the file or step and OpenSSL's reason.
    public convenience init(ca: String, cert: String, key: String) throws(TLSError) {
        try self.init(verifying: ca)
        guard SSL_CTX_use_certificate_chain_file(context, cert) == 1 else { throw TLSError("cannot load certificate \(cert)") }
        guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else { throw TLSError("cannot load key \(key)") }
        guard SSL_CTX_check_private_key(context) == 1 else { throw TLSError("key \(key) does not match certificate \(cert)") }
    }

    /// A server-verifying context without a client certificate (https to Consul): the peer's
    /// certificate is checked against `ca` (a PEM file), or the system's CAs when nil.
    /// - Throws: naming the file or step and OpenSSL's reason.
    public init(verifying ca: String?) throws(TLSError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSError("SSL_CTX_new") }
        self.context = context
        guard ganger_tls_ctx_min_tls12(context) == 1 else { throw TLSError("TLS 1.2 minimum") }
        if let ca {
            guard SSL_CTX_load_verify_locations(context, ca, nil) == 1 else { throw TLSError("cannot load CA \(ca)") }
        } else {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw TLSError("cannot load the system's CAs") }
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
    }

    deinit { SSL_CTX_free(context) }
}

/// One TLS client session over a connected non-blocking socket (which stays the caller's).
/// The handshake happens inside the first reads and writes. Not thread-safe: the loop's.
final class TLSSession {
    private let ssl: OpaquePointer

    /// `host`: what the server's certificate must name (and SNI for a DNS name).
    init(context: TLSContext, fd: CInt, host: String) throws(TLSError) {
        guard let ssl = SSL_new(context.context) else { throw TLSError("SSL_new") }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        SSL_set_connect_state(ssl)
        _ = ganger_tls_set_partial_write(ssl)
        let param = SSL_get0_param(ssl)
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 {
            guard X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 else { throw TLSError("verify IP \(host)") }
        } else {
            guard X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 else { throw TLSError("verify host \(host)") }
            _ = ganger_tls_set_sni(ssl, host)
        }
    }

    deinit { SSL_free(ssl) }

    /// `SSL_read`: plaintext into `buffer`; 0 = the peer closed.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> IOResult<Int> {
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return try outcome(n, "SSL_read")
    }

    /// `SSL_write` (partial writes allowed).
    func write(from buffer: UnsafeRawBufferPointer) throws(TLSError) -> IOResult<Int> {
        ERR_clear_error()
        let n = SSL_write(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return try outcome(n, "SSL_write")
    }

    private func outcome(_ n: Int32, _ call: String) throws(TLSError) -> IOResult<Int> {
        if n > 0 { return .processed(Int(n)) }
        switch SSL_get_error(ssl, n) {
        // Either way the loop calls both read and write again on the next event of the socket.
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_ZERO_RETURN: return .processed(0)
        case SSL_ERROR_SYSCALL where n == 0 && ERR_peek_error() == 0: return .processed(0)
        case SSL_ERROR_SYSCALL: throw TLSError("\(call): \(String(cString: strerror(errno)))")
        default:
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK { throw TLSError("\(call): certificate: \(String(cString: X509_verify_cert_error_string(verify)))") }
            throw TLSError(call)
        }
    }
}
