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

    /// A reused holder's shared files (`Holder.sharedFiles`): the three paths Docker names become
    /// read-only binds at /etc/hosts, /etc/hostname and /etc/resolv.conf; a path that is not
    /// plain (relative, `..`, `.`) makes the holder unusable; absent paths bind nothing.
    @Test func holderSharedFiles_bindWhatTheDaemonNames_refuseAnythingNotPlain() throws {
        func holder(_ paths: String) throws -> ContainerInspect {
            try inspect("""
                {"Id":"x","State":{"Status":"running","Running":true,"ExitCode":0,"OOMKilled":false},\
                "NetworkSettings":{}\(paths)}
                """)
        }
        let docker = try holder(#","HostsPath":"/var/lib/docker/containers/x/hosts","HostnamePath":"/var/lib/docker/containers/x/hostname","ResolvConfPath":"/var/lib/docker/containers/x/resolv.conf""#)
        let binds = try #require(Holder.sharedFiles(docker))
        #expect(binds.map(\.target) == ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"])
        #expect(binds.map(\.source) == ["/var/lib/docker/containers/x/hosts", "/var/lib/docker/containers/x/hostname",
                                        "/var/lib/docker/containers/x/resolv.conf"])
        #expect(binds.allSatisfy { $0.readOnly && $0.type == "bind" })
        #expect(Holder.sharedFiles(try holder("")) == [])
        #expect(Holder.sharedFiles(try holder(#","HostsPath":"""#)) == [])
        for bad in ["hosts", "/var/lib/../../etc/shadow", "/var/./x", "/var/lib/x\\u0000y"] {
            #expect(Holder.sharedFiles(try holder(#","HostsPath":"\#(bad)""#)) == nil, "\(bad)")
        }
        // What the create body carries.
        var spec = ContainerSpec(image: "i", cmd: nil, env: [], labels: [:], exposedPorts: [:],
                                 hostConfig: .init(securityOpt: [], networkMode: "container:h", restartPolicy: [:], autoRemove: false))
        spec.hostConfig.mounts = [binds[0]]
        let body = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self).split(separator: "\\", omittingEmptySubsequences: false).joined()
        #expect(body.contains(#""Mounts":[{"#))
        for field in [#""Type":"bind""#, #""Source":"/var/lib/docker/containers/x/hosts""#, #""Target":"/etc/hosts""#, #""ReadOnly":true"#] {
            #expect(body.contains(field), "\(body)")
        }
    }

    /// A daemon's container ids go into request paths unescaped: one that is not lowercase hex
    /// fails the answer it came in (a create, a listing), as a malformed body would.
    @Test(arguments: ["abc/../../images/create?fromImage=evil", "abc\r\nX-Injected: 1", "", "ABC123"])
    func aContainerIDThatIsNotHex_failsTheCreateAndTheListing(_ id: String) throws {
        let escaped = String(decoding: try JSONEncoder().encode(id), as: UTF8.self)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CreateResponse.self, from: Data("{\"Id\":\(escaped),\"Warnings\":[]}".utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([ContainerSummary].self, from: Data("[{\"Id\":\(escaped),\"Labels\":{},\"State\":\"running\"}]".utf8))
        }
        let good = "{\"Id\":\"\(String(repeating: "0f", count: 32))\",\"Labels\":{\"a\":\"b\"},\"State\":\"exited\",\"Names\":[\"/x\"],\"Created\":5}"
        let summary = try JSONDecoder().decode([ContainerSummary].self, from: Data("[\(good)]".utf8))
        #expect(summary.first?.labels == ["a": "b"] && summary.first?.names == ["/x"] && summary.first?.created == 5)
        #expect(try JSONDecoder().decode(CreateResponse.self, from: Data(good.utf8)).id == String(repeating: "0f", count: 32))
    }
}
