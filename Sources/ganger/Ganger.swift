import ArgumentParser
import EventLoop
import GangerCore
import Glibc

/// The `ganger` command: parses arguments and hands over to a subcommand.
///
/// The entry point stays synchronous (not `AsyncParsableCommand`): `ganger run` must block
/// its signals before any other thread exists, which an async entry point would already have
/// started (DESIGN.md, "Signals").
@main
struct Ganger: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ganger",
        abstract: "A container per TCP connection, spread over Docker daemons.",
        discussion: "Upgrade without dropping a session: `ganger run -c FILE --takeover` takes the listening sockets and "
            + "live sessions over from the running Ganger of the same instance, which then exits 0.",
        subcommands: [RunCommand.self, CheckCommand.self, StatusCommand.self, CleanupCommand.self, VersionCommand.self]
    )

    /// Like ArgumentParser's own `main()`, but a usage error exits with 1 as DESIGN.md asks
    /// ("1 configuration or usage error"), not with ArgumentParser's EX_USAGE (64).
    static func main() {
        // `ganger run` reads TERM, INT, HUP and CHLD from a signalfd. They must be blocked before
        // any other thread exists, or a thread that has not blocked them takes the default
        // action and the process dies without cleaning up.
        if CommandLine.arguments.dropFirst().first == "run" {
            Signals.block(SignalPolicy.handled)
            Signals.ignorePipe()
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                exit(withError: ExitCode.configError)
            }
            exit(withError: error)
        }
    }
}

extension ExitCode {
    /// A configuration or usage error.
    static let configError = ExitCode(1)
    /// A failure at startup: no daemon reachable, image missing, port in use.
    static let runtimeFailure = ExitCode(2)
}

/// Writes one line to standard error. `write(2)` rather than `fputs(stderr)`: Glibc's `stderr`
/// is a global `var`, which Swift 6 refuses to touch from non-isolated code.
func printError(_ message: String) {
    let line = message.hasSuffix("\n") ? message : message + "\n"
    var remaining = Array(line.utf8)[...]
    while !remaining.isEmpty {
        let written = remaining.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return }
        remaining = remaining.dropFirst(written)
    }
}

/// Writes one line to standard output (the machine-readable "listening" lines).
func printOut(_ message: String) {
    var remaining = Array((message + "\n").utf8)[...]
    while !remaining.isEmpty {
        let written = remaining.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return }
        remaining = remaining.dropFirst(written)
    }
}

/// `-c FILE`, shared by the commands that read a configuration file.
struct ConfigFileOption: ParsableArguments {
    @Option(
        name: [.customShort("c"), .customLong("config")],
        help: ArgumentHelp("Configuration file (default: $GANGER_CONFIG, then ./ganger.yml).", valueName: "FILE")
    )
    var file: String?
}
