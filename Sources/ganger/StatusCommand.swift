import ArgumentParser

/// `ganger status [--url URL]`: a running instance's status as a table (not implemented yet).
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running instance's status as a table."
    )

    @Option(help: ArgumentHelp("The instance's status listener.", valueName: "URL"))
    var url = "http://127.0.0.1:5480"

    func run() throws {
        printError("ganger status: not implemented yet")
        throw ExitCode.runtimeFailure
    }
}
