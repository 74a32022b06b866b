@testable import EventLoop
@testable import GangerCore

/// Daemon URLs, listen and endpoint addresses, socket addresses. Input: the text of one.
///
/// Properties: whatever parses prints to a form that parses back to the same value; the ssh
/// command for an `ssh://` URL has no argument starting with `-` after `--` (nor a user that
/// could pass for an option); an endpoint never has port 0; a listen host is numeric.
enum AddressTarget {
    static func run(_ input: [UInt8]) {
        guard let text = String(validating: input, as: UTF8.self) else { return }
        if let url = try? DaemonURL.parse(text) {
            let back = try? DaemonURL.parse(url.description)
            require(back == url, "\(url) prints as \(url.description), which reads back as \(String(describing: back))")
            if case let .ssh(user, host, port) = url { checkSSH(DockerClient.sshCommand(user: user, host: host, port: port)) }
            if case let .tcp(_, port) = url { require(port != 0, "tcp:// with port 0") }
        }
        if let listen = try? HostPort.parseListen(text) {
            require(HostPort.isNumericIP(listen.host), "listen host \(listen.host) is not numeric")
            let back = try? HostPort.parseListen(listen.description)
            require(back == listen, "listen \(listen) reads back as \(String(describing: back))")
        }
        if let endpoint = try? HostPort.parseEndpoint(text) {
            require(endpoint.port != 0, "endpoint with port 0")
            let back = try? HostPort.parseEndpoint(endpoint.description)
            require(back == endpoint, "endpoint \(endpoint) reads back as \(String(describing: back))")
        }
        if let address = try? SocketAddress(parsing: text) {
            let back = try? SocketAddress(parsing: address.description)
            require(back == address, "socket address \(address) reads back as \(String(describing: back))")
        }
    }

    static func checkSSH(_ command: [String]) {
        guard let dashes = command.firstIndex(of: "--") else { return require(false, "no -- in \(command)") }
        for argument in command[(dashes + 1)...] {
            require(!argument.hasPrefix("-"), "ssh argument \(argument) after -- starts with '-': \(command)")
        }
        if let l = command.firstIndex(of: "-l") {
            require(l + 1 < dashes && !command[l + 1].hasPrefix("-"), "ssh user reads as an option: \(command)")
        }
        require(command[..<dashes].allSatisfy { !$0.contains("\0") }, "NUL in \(command)")
    }
}
