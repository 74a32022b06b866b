import ArgumentParser
import GangerCore

/// `ganger version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print Ganger's version.")

    func run() {
        print("ganger \(GangerVersion.string)")
    }
}
