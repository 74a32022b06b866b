import FoundationEssentials
@testable import GangerCore
import Testing

/// Reading the Engine API's inspect answer: the published port a remote session connects to.
@Suite struct DockerModelsTests {
    func inspect(_ json: String) throws -> ContainerInspect {
        try JSONDecoder().decode(ContainerInspect.self, from: Data(json.utf8))
    }

    /// Found by the `docker` fuzz target's property (published port never 0) on a hand-written
    /// input: a binding to host port 0 was returned, and a remote session would connect to it.
    @Test func publishedPortZero_isNoPort_theNextBindingCounts() throws {
        let zero = try inspect("""
            {"Id":"x","State":{"Status":"running","Running":true,"ExitCode":0,"OOMKilled":false},\
            "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"","HostPort":"0"}]}}}
            """)
        #expect(zero.publishedPort(80) == nil)
        let second = try inspect("""
            {"Id":"x","State":{"Status":"running","Running":true,"ExitCode":0,"OOMKilled":false},\
            "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"::","HostPort":"0"},{"HostIp":"0.0.0.0","HostPort":"32768"}],\
            "81/tcp":null}}}
            """)
        #expect(second.publishedPort(80) == 32768)
        #expect(second.publishedPort(81) == nil)
        #expect(second.publishedPort(82) == nil)
    }
}
