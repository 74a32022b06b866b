import Glibc
import Testing
@testable import GangerCore

@Suite struct ControlSocketConfigTests {
    private func parse(_ extra: String) throws -> GangerConfig { try parseOneServiceConfig(extra) }

    @Test func defaultPath_followsTheInstance() throws {
        let config = try parse("")
        #expect(config.controlSocket == nil)
        let expected = geteuid() == 0 ? "/run/ganger/blue.sock" : "/tmp/ganger-\(geteuid())/blue.sock"
        #expect(config.controlSocketPath == expected)
    }

    @Test func configuredPath_isUsed_andRendersBack() throws {
        let config = try parse("control: {socket: /shared/ganger/blue.sock}")
        #expect(config.controlSocketPath == "/shared/ganger/blue.sock")
        #expect(try ConfigLoader.parse(yaml: config.renderYAML(), source: "rendered", environment: [:]) == config)
    }

    @Test func relativePath_isAnError_namingTheKey() {
        #expect(throws: ConfigErrors.self) { try parse("control: {socket: blue.sock}") }
        do { _ = try parse("control: {socket: blue.sock}") } catch { #expect("\(error)".contains("control.socket")) }
    }
}
