@testable import GangerCore

/// A configuration with instance `blue`, one echo service, and `extra` top-level keys: for tests
/// of a top-level section.
func parseOneServiceConfig(_ extra: String) throws -> GangerConfig {
    try ConfigLoader.parse(yaml: """
        instance: blue
        services: [{name: echo, listen: 127.0.0.1:5454, image: ganger-echo:latest, port: 12345}]
        \(extra)
        """, source: "test", environment: [:])
}
