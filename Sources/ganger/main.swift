import ArgumentParser
import GangerCore

struct Ganger: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ganger",
        abstract: "A container per TCP connection, spread over Docker daemons.",
        subcommands: [Version.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Ganger's version.")
    func run() { print("ganger \(GangerVersion.string)") }
}

Ganger.main()
