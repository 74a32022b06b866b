import CGangerShims
import Glibc
import TestSupport

/// A real OpenSSH server (Debian's openssh-server) of the test's own on a loopback port, with
/// keys made for the test: the far end of `ssh://` daemons. Its sessions get
/// `DOCKER_HOST=<dockerHost>` (sshd_config `SetEnv`), so the remote `docker system dial-stdio`
/// reaches that dockerd. `sshWrapperDirectory` holds an `ssh` that runs /usr/bin/ssh with this
/// server's client config (key, known host): put it first in ganger's PATH.
final class TestSSHD: Sendable {
    let directory: String
    let port: UInt16
    let process: SpawnedProcess

    var sshWrapperDirectory: String { directory + "/bin" }
    /// What sshd logged (stderr, -e).
    var log: String { process.stderr }

    init(dockerHost: String) throws {
        guard access("/usr/sbin/sshd", X_OK) == 0, access("/usr/bin/ssh-keygen", X_OK) == 0 else {
            throw HarnessError("sshd missing: make test-deps (or apt-get install openssh-server)")
        }
        var template = Array("/tmp/ganger-sshd-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp: \(String(cString: strerror(errno)))")
        }
        let dir = String(cString: made)
        directory = dir
        port = try freeLoopbackPort()
        for key in ["host_key", "client_key"] {
            let made = try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ganger-test", "-f", "\(dir)/\(key)"], timeout: .seconds(20))
            guard made.status == .exited(0) else { throw HarnessError("ssh-keygen: \(made.stderr)") }
        }
        try writeFile("\(dir)/authorized_keys", try readFile("\(dir)/client_key.pub"))
        try writeFile("\(dir)/known_hosts", "[127.0.0.1]:\(port) " + (try readFile("\(dir)/host_key.pub")))
        try writeFile("\(dir)/sshd_config", """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(dir)/host_key
            AuthorizedKeysFile \(dir)/authorized_keys
            PidFile \(dir)/sshd.pid
            StrictModes no
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            MaxStartups 100:30:200
            MaxSessions 100
            SetEnv DOCKER_HOST=\(dockerHost)

            """)
        try writeFile("\(dir)/ssh_config", """
            Host *
              IdentityFile \(dir)/client_key
              IdentitiesOnly yes
              UserKnownHostsFile \(dir)/known_hosts
              StrictHostKeyChecking yes
              LogLevel ERROR

            """)
        mkdir("\(dir)/bin", 0o755)
        try writeFile("\(dir)/bin/ssh", "#!/bin/sh\nexec /usr/bin/ssh -F \(dir)/ssh_config \"$@\"\n")
        chmod("\(dir)/bin/ssh", 0o755)
        mkdir("/run/sshd", 0o755)  // sshd's privilege-separation directory
        process = try SpawnedProcess("/usr/sbin/sshd", ["-D", "-e", "-f", "\(dir)/sshd_config"])
        let up = poll(timeout: .seconds(10), interval: .milliseconds(50)) { (try? Client(host: "127.0.0.1", port: port))?.close() != nil }
        guard up else {
            _ = try? process.terminate(signal: SIGTERM, timeout: .seconds(5))
            throw HarnessError("sshd did not listen on 127.0.0.1:\(port)\n\(process.log)")
        }
    }

    /// Stops sshd (SIGTERM to our own child) and removes the keys and configs.
    func stop() {
        _ = try? process.terminate(signal: SIGTERM, timeout: .seconds(10))
        _ = try? run("/bin/rm", ["-rf", directory], timeout: .seconds(10))
    }
}

/// A port nobody listens on now (bound then released; a tiny race the tests accept).
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { throw HarnessError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
    return UInt16(bigEndian: address.sin_port)
}

func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
        throw HarnessError("write \(path): \(String(cString: strerror(errno)))")
    }
}

func readFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}
