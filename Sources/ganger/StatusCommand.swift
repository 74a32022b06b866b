import ArgumentParser
import GangerCore

/// `ganger status [--url URL] [--health]`: a running instance's status as tables, or its
/// health as an exit code (for a container HEALTHCHECK).
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running instance's status as a table.",
        discussion: """
            Reads URL/status.json. Exits 2 if the instance cannot be reached.
            With --health, prints nothing and exits 0 if URL/healthz answers 200, else 1.
            """
    )

    @Option(help: ArgumentHelp("The instance's status listener.", valueName: "URL"))
    var url = "http://127.0.0.1:5480"

    @Flag(help: "Exit 0 if /healthz answers 200, else 1; print nothing.")
    var health = false

    @Option(help: ArgumentHelp("Give up after this many seconds.", valueName: "SECONDS"))
    var timeout: Double = 5

    func run() throws {
        let limit = Duration.milliseconds(Int64(max(timeout, 0.001) * 1000))
        if health {
            if StatusClient.isHealthy(url, timeout: limit) { return }
            throw ExitCode(1)
        }
        do {
            print(StatusTable.render(try StatusClient.snapshot(url, timeout: limit)), terminator: "")
        } catch {
            printError("ganger status: \(error)")
            if case .badURL = error { throw ExitCode.configError }
            throw ExitCode.runtimeFailure
        }
    }
}
