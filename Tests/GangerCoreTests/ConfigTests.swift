import Testing
import FoundationEssentials
@testable import GangerCore

/// The smallest valid file: one service, everything else defaulted.
private let minimal = """
    services:
      - name: echo
        listen: 0.0.0.0:5454
        image: ganger-echo:latest
        port: 12345
    """

private func parse(_ yaml: String, environment: [String: String] = [:]) throws(ConfigErrors) -> GangerConfig {
    try ConfigLoader.parse(yaml: yaml, source: "test.yml", environment: environment)
}

@Suite struct ConfigTests {
    @Test func minimalFile_fillsEveryDefault() throws {
        let config = try parse(minimal)
        #expect(config.instance == "ganger")
        #expect(config.daemons == [DaemonConfig(url: .unix(path: "/var/run/docker.sock"), maxContainers: 16)])
        #expect(config.consul == nil)
        #expect(config.status.listen == HostPort(host: "127.0.0.1", port: 5480))
        #expect(config.dockerTimeout == .seconds(300))
        #expect(config.shutdownGrace == .seconds(30))
        #expect(config.log == LogConfig(level: .info, format: .text))
        let s = try #require(config.services.first)
        #expect(s.name == "echo")
        #expect(s.listen == HostPort(host: "0.0.0.0", port: 5454))
        #expect(s.image == "ganger-echo:latest")
        #expect(s.port == 12345)
        #expect(s.command == [] && s.env == [:])
        #expect(s.pull == .missing)
        #expect(s.ready == .init(attempts: 50, interval: .milliseconds(100), timeout: .seconds(10)))
        #expect(s.limits == .init(memory: ByteSize(bytes: 256 << 20), cpus: 1.0, pids: 256, log: ByteSize(bytes: 10 << 20)))
        #expect(s.network == "bridge")
        #expect(s.pool == .init(warm: 0, reuse: 1))
        #expect(s.queue == .init(max: 1000, timeout: .seconds(60)))
        #expect(s.session == .init(maxDuration: .zero, idleTimeout: .seconds(600)))
        #expect(s.perSource.maxConnections == 0)
        #expect(s.clientAddress == .none)
        #expect(s.netns == .init(mode: .perContainer, holders: 2, reuse: 1))
    }

    @Test func defaultDaemon_comesFromDockerHost() throws {
        let config = try parse(minimal, environment: ["DOCKER_HOST": "tcp://10.1.2.3:2375"])
        #expect(config.daemons == [DaemonConfig(url: .tcp(host: "10.1.2.3", port: 2375), maxContainers: 16)])
    }

    @Test func defaultDaemon_takesTLSFromDockerCertPathWhenVerifying() throws {
        let config = try parse(minimal, environment: [
            "DOCKER_HOST": "tcp://10.1.2.3:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs",
        ])
        #expect(config.daemons.first?.tls == .init(ca: "/certs/ca.pem", cert: "/certs/cert.pem", key: "/certs/key.pem"))
    }

    @Test func fullExample_parsesEveryKey() throws {
        let config = try parse("""
            instance: ci-7
            daemons:
              - url: tcp://10.0.0.5:2376
                max_containers: -1
                cert_path: /etc/docker/certs
              - {url: "ssh://deploy@build2:2222", max_containers: 4}
              - url: tcp://10.0.0.6:2376
                tls: {ca: /a/ca.pem, cert: /a/c.pem, key: /a/k.pem}
            services:
              - name: hive.q-1
                listen: "[::]:7000"
                image: registry:5000/hive:3
                port: 10000/tcp
                command: [run, --fast, "1"]
                env: {MODE: batch, THREADS: 4}
                pull: always
                ready: {attempts: 3, interval: 250ms, timeout: 2m}
                limits: {memory: 1g, cpus: 0.5, pids: 0, log: 0}
                network: isolated
                pool: {warm: 2, reuse: 3}
                queue: {max: 0, timeout: 0, abort_on_close: true}
                session: {max_duration: 1h, idle_timeout: 5m}
                per_source: {max_connections: 4}
                client_address: proxy-v2
                netns: {mode: holder, holders: 0, reuse: 8}
            status: {listen: "0.0.0.0:9000"}
            docker_timeout: 2m
            shutdown_grace: 0s
            log: {level: trace, format: json}
            """)
        #expect(config.instance == "ci-7")
        #expect(config.daemons[0] == DaemonConfig(
            url: .tcp(host: "10.0.0.5", port: 2376), maxContainers: -1,
            tls: .init(ca: "/etc/docker/certs/ca.pem", cert: "/etc/docker/certs/cert.pem", key: "/etc/docker/certs/key.pem")))
        #expect(config.daemons[1] == DaemonConfig(url: .ssh(user: "deploy", host: "build2", port: 2222), maxContainers: 4))
        #expect(config.daemons[2].tls == .init(ca: "/a/ca.pem", cert: "/a/c.pem", key: "/a/k.pem"))
        let s = config.services[0]
        #expect(s.listen == HostPort(host: "::", port: 7000))
        #expect(s.port == 10000)
        #expect(s.command == ["run", "--fast", "1"])
        #expect(s.env == ["MODE": "batch", "THREADS": "4"])
        #expect(s.ready == .init(attempts: 3, interval: .milliseconds(250), timeout: .seconds(120)))
        #expect(s.limits == .init(memory: ByteSize(bytes: 1 << 30), cpus: 0.5, pids: 0, log: ByteSize(bytes: 0)))
        #expect(s.pool == .init(warm: 2, reuse: 3))
        #expect(s.queue == .init(max: 0, timeout: .zero, abortOnClose: true))
        #expect(s.session == .init(maxDuration: .seconds(3600), idleTimeout: .seconds(300)))
        #expect(s.clientAddress == .proxyV2)
        #expect(s.netns == .init(mode: .holder, holders: 0, reuse: 8))
        #expect(config.status.listen == HostPort(host: "0.0.0.0", port: 9000))
        #expect(config.dockerTimeout == .seconds(120) && config.shutdownGrace == .zero)
        #expect(config.log == LogConfig(level: .trace, format: .json))
    }

    @Test func consul_replacesDaemonsWithItsDefaults() throws {
        let config = try parse("consul: {datacenters: [eu, us]}\n" + minimal)
        #expect(config.daemons == [])
        #expect(config.consul == ConsulConfig(
            hosts: [HostPort(host: "127.0.0.1", port: 8500)], service: "docker", datacenters: ["eu", "us"],
            defaultMaxContainers: 10, consistency: .stale))
    }

    @Test func consul_daemonTLS_asFilesOrAsACertPath() throws {
        let files = try parse("consul: {daemon_tls: {ca: /t/ca.pem, cert: /t/c.pem, key: /t/k.pem}}\n" + minimal)
        #expect(files.consul?.daemonTLS == .init(ca: "/t/ca.pem", cert: "/t/c.pem", key: "/t/k.pem"))
        let dir = try parse("consul: {daemon_cert_path: /etc/docker/certs/}\n" + minimal)
        #expect(dir.consul?.daemonTLS == .init(ca: "/etc/docker/certs/ca.pem", cert: "/etc/docker/certs/cert.pem",
                                               key: "/etc/docker/certs/key.pem"))
        #expect(try parse("consul: {}\n" + minimal).consul?.daemonTLS == nil)
    }

    @Test func jsonInput_isAccepted() throws {
        let config = try parse("""
            {"instance": "j", "services": [{"name": "echo", "listen": "127.0.0.1:0", "image": "e", "port": "7/tcp",
             "ready": {"interval": "1s"}}], "log": {"format": "json"}}
            """)
        #expect(config.instance == "j")
        #expect(config.services[0].port == 7 && config.services[0].ready.interval == .seconds(1))
        #expect(config.log.format == .json)
    }

    @Test func renderedYAML_parsesBackToAnEqualConfig() throws {
        let original = try parse("""
            instance: rt
            daemons:
              - {url: "tcp://[2001:db8::1]:2376", max_containers: -1, cert_path: /c}
              - {url: "ssh://me@h", max_containers: 0}
            services:
              - name: a
                listen: "[::1]:7000"
                image: "registry:5000/a:1"
                port: 7
                command: [sh, -c, "echo 'hi: there' \\\\ \\\"x\\\"", "1", "true", "null", ""]
                env: {Z: "", A: "a: b", N: 0x10}
                limits: {memory: 7680k, cpus: 2.25, pids: 7, log: 3k}
                queue: {timeout: 90s}
                session: {max_duration: 3600000ms}
              - name: b
                listen: 127.0.0.1:0
                image: b
                port: 8
                client_address: env
            status: {listen: "127.0.0.1:0"}
            shutdown_grace: 1500ms
            pull_progress_timeout: 0s
            """)
        let rendered = original.renderYAML(showSecrets: true)
        let reparsed = try ConfigLoader.parse(yaml: rendered, source: "rendered", environment: ["DOCKER_HOST": "tcp://other:1"])
        #expect(reparsed == original)
        #expect(rendered.contains("    session: {max_duration: 1h, idle_timeout: 10m, keepalive: {idle: 1m, interval: 10s, count: 6}, user_timeout: 2m}\n"))
        #expect(rendered.contains("    limits: {memory: 7680k, cpus: 2.25, pids: 7, log: 3k}\n"))
        #expect(rendered.contains("shutdown_grace: 1500ms\n"))
        #expect(original.pullProgressTimeout == nil && rendered.contains("pull_progress_timeout: 0s\n"))
        #expect(reparsed.services[0].command[2] == #"echo 'hi: there' \ "x""#)
    }

    @Test func mergeKey_sharesOneServicesSettingsWithAnother() throws {
        let config = try parse("""
            services:
              - &echo
                name: echo
                listen: 0.0.0.0:5454
                image: ganger-echo:latest
                port: 12345
                limits: {memory: 64m, pids: 64}
              - <<: *echo
                name: echo-2
                listen: 0.0.0.0:5455
            """)
        #expect(config.services.map(\.name) == ["echo", "echo-2"])
        #expect(config.services[1].listen == HostPort(host: "0.0.0.0", port: 5455))
        #expect(config.services[1].image == "ganger-echo:latest" && config.services[1].port == 12345)
        #expect(config.services[1].limits == config.services[0].limits && config.services[1].limits.pids == 64)
    }

    @Test func renderedYAML_quotesExactlyTheStringsThatWouldReadBackAsAnotherType() throws {
        let original = try parse(minimal + """

                command: ["yes", "Off", "1_000", "0o17", "1:30", "2024-01-02", "1e3", "nULL", "y", "1.2.3", plain-word]
            """)
        let rendered = original.renderYAML()
        #expect(rendered.contains(
            #"    command: ["yes", "Off", "1_000", "0o17", "1:30", "2024-01-02", "1e3", nULL, y, 1.2.3, plain-word]"# + "\n"))
        #expect(try ConfigLoader.parse(yaml: rendered, source: "rendered", environment: [:]) == original)
    }

    // Found by the config fuzzer: an env value ending in a colon, rendered plain (`B: cpus:`),
    // read back as a mapping and the rendered file did not load.
    @Test func renderedYAML_quotesABlockValueEndingInAColon() throws {
        let original = try parse(minimal + """

                env: {A: "cpus:", B: "a:b", C: "x:"}
            """)
        let rendered = original.renderYAML(showSecrets: true)
        #expect(rendered.contains("      A: \"cpus:\"\n") && rendered.contains("      B: a:b\n") && rendered.contains("      C: \"x:\"\n"), "\(rendered)")
        #expect(try ConfigLoader.parse(yaml: rendered, source: "rendered", environment: [:]) == original)
    }

    @Test func renderedYAML_ofDefaults_isDESIGNsExample() throws {
        let rendered = try parse(minimal).renderYAML()
        #expect(rendered == """
            instance: ganger
            daemons:
              - url: unix:///var/run/docker.sock
                max_containers: 16
            services:
              - name: echo
                listen: 0.0.0.0:5454
                image: ganger-echo:latest
                port: 12345
                command: []
                env: {}
                pull: missing
                ready: {attempts: 50, interval: 100ms, timeout: 10s}
                limits: {memory: 256m, cpus: 1.0, pids: 256, log: 10m}
                network: bridge
                pool: {warm: 0, reuse: 1}
                queue: {max: 1000, timeout: 1m, abort_on_close: false}
                session: {max_duration: 0s, idle_timeout: 10m, keepalive: {idle: 1m, interval: 10s, count: 6}, user_timeout: 2m}
                per_source: {max_connections: 0, rate: 20, burst: 40}
                accept: {rate: 500, burst: 1000}
                client_address: none
                netns: {mode: per-container, holders: 2, reuse: 1, return_wait: 150ms, start_wait: 1s}
                sandbox: {preset: default, read_only: false, tmpfs: {}, cap_drop: [NET_RAW], cap_add: []}
            status:
              listen: 127.0.0.1:5480
              max_connections_per_address: 8
            docker_timeout: 5m
            pull_timeout: 10m
            pull_progress_timeout: 1m
            launch_window: {min: 2, max: 32, initial: 4}
            shutdown_grace: 30s
            relay: {large_buffers: 0, large_buffer_size: 1m, fat_after: 8m}
            log: {level: info, format: text}

            """)
    }

    @Test func renderedYAML_withConsul_roundTrips() throws {
        let original = try parse("consul: {hosts: [\"c1:8500\", \"[::1]:8501\"], datacenters: [eu], consistency: consistent}\n" + minimal)
        #expect(try ConfigLoader.parse(yaml: original.renderYAML(), source: "rendered", environment: [:]) == original)
    }

    @Test func renderedYAML_withConsulDaemonCertPath_printsItExpanded_andRoundTrips() throws {
        let original = try parse("consul: {datacenters: [eu], daemon_cert_path: /certs}\n" + minimal)
        let text = original.renderYAML()
        #expect(text.contains("  daemon_tls:\n    ca: /certs/ca.pem\n    cert: /certs/cert.pem\n    key: /certs/key.pem\n"), "\(text)")
        #expect(try ConfigLoader.parse(yaml: text, source: "rendered", environment: [:]) == original)
    }

    @Test func resolvePath_prefersFlagThenEnvironmentThenDefault() {
        let env = ["GANGER_CONFIG": "/etc/ganger/prod.yml"]
        #expect(ConfigLoader.resolvePath(explicit: "mine.yml", environment: env) == "mine.yml")
        #expect(ConfigLoader.resolvePath(explicit: nil, environment: env) == "/etc/ganger/prod.yml")
        #expect(ConfigLoader.resolvePath(explicit: nil, environment: ["GANGER_CONFIG": ""]) == "ganger.yml")
        #expect(ConfigLoader.resolvePath(explicit: nil, environment: [:]) == "ganger.yml")
    }

    @Test func load_readsAFileAndNamesItInErrors() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ganger-config-\(UInt32.random(in: 0...UInt32.max)).yml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data((minimal + "\n    colour: red\n").utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ConfigErrors(source: path, errors: [ConfigError(path: "services[0].colour", message: "unknown key")])) {
            try ConfigLoader.load(path: path, environment: [:])
        }
        try Data(minimal.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try ConfigLoader.load(path: path, environment: [:]).services.map(\.name) == ["echo"])
    }

    @Test func load_unreadableFile_isOneErrorWithErrno() {
        #expect(throws: ConfigErrors(source: "/nonexistent/ganger.yml", errors: [
            ConfigError(path: "", message: "cannot read: No such file or directory (errno 2)"),
        ])) {
            try ConfigLoader.load(path: "/nonexistent/ganger.yml", environment: [:])
        }
        #expect(throws: ConfigErrors(source: "/", errors: [
            ConfigError(path: "", message: "cannot read: Is a directory (errno 21)"),
        ])) {
            try ConfigLoader.load(path: "/", environment: [:])
        }
    }

    @Test func singleService_usesDefaultsAndNamesTheServiceAfterTheImage() throws {
        let config = try GangerConfig.singleService(image: "registry:5000/team/Echo_Srv:1.2", port: "8080/tcp", environment: [:])
        #expect(config.services == [ServiceConfig(
            name: "echo_srv", listen: HostPort(host: "0.0.0.0", port: 5454), image: "registry:5000/team/Echo_Srv:1.2", port: 8080)])
        #expect(config.daemons == [DaemonConfig(url: .localSocket)])
        let listening = try GangerConfig.singleService(image: "e", port: "1", listen: "[::1]:0", environment: [:])
        #expect(listening.services[0].listen == HostPort(host: "::1", port: 0))
    }

    @Test func singleService_reportsEveryBadFlag() {
        #expect(throws: ConfigErrors(source: "command line", errors: [
            ConfigError(path: "--image", message: "must not be empty"),
            ConfigError(path: "--port", message: "0 is not a port (1-65535)"),
            ConfigError(path: "--listen", message: "\"*:80\": a listen address needs a numeric IP, not a host name "
                + "(e.g. 0.0.0.0:5454, 127.0.0.1:5454 or [::]:5454)"),
        ])) {
            try GangerConfig.singleService(image: "", port: "0", listen: "*:80", environment: [:])
        }
    }
}

@Suite struct HolderWaitConfigTests {
    private func netns(_ fields: String) throws(ConfigErrors) -> ServiceConfig.Netns {
        try parse("""
            services:
              - {name: s, listen: 127.0.0.1:7000, image: busybox, port: 1, netns: \(fields)}
            """).services[0].netns
    }

    @Test func waits_decodeWithDefaultsAndZeroOff() throws {
        let defaults = try netns("{mode: holder, reuse: 4}")
        #expect(defaults.returnWait == .milliseconds(150) && defaults.startWait == .seconds(1))
        let set = try netns("{mode: holder, reuse: 4, return_wait: 0s, start_wait: 2500ms}")
        #expect(set.returnWait == .zero && set.startWait == .milliseconds(2500))
    }

    @Test func waits_overTheirLimit_areRefusedByName() {
        #expect {
            _ = try netns("{mode: holder, reuse: 4, return_wait: 11s, start_wait: 1m}")
        } throws: { error in
            let text = "\(error)"
            return text.contains("services[0].netns.return_wait: 11s is over the limit of 10s")
                && text.contains("services[0].netns.start_wait: 1m is over the limit of 10s")
        }
    }
}

@Suite struct SandboxConfigTests {
    private func load(_ sandbox: String, netnsReuse: Int = 1) throws -> GangerConfig {
        try ConfigLoader.parse(yaml: """
            services:
              - name: shell
                listen: 127.0.0.1:7000
                image: busybox
                port: 12345
                netns: {reuse: \(netnsReuse)}
                sandbox: \(sandbox)
            """, source: "t.yml", environment: [:])
    }

    @Test func sandbox_parsesAndRendersBack() throws {
        let config = try load(#"{read_only: true, tmpfs: {/tmp: "size=16m"}, cap_drop: [all], cap_add: [chown]}"#)
        let sandbox = config.services[0].sandbox
        #expect(sandbox.readOnly)
        #expect(sandbox.tmpfs == ["/tmp": "size=16m"])
        #expect(sandbox.capDrop == ["ALL"])
        #expect(sandbox.capAdd == ["CHOWN"])
        let again = try ConfigLoader.parse(yaml: config.renderYAML(), source: "again.yml", environment: [:])
        #expect(again == config)
    }

    @Test func sandbox_badInput_namesTheKey() {
        #expect {
            try load("{read_only: maybe, tmpfs: {tmp: x}}")
        } throws: { error in
            let text = "\(error)"
            return text.contains("services[0].sandbox.read_only") && text.contains("services[0].sandbox.tmpfs")
        }
    }

    @Test func netAdmin_withAReusedNamespace_isRefused() {
        #expect {
            try load("{cap_add: [NET_ADMIN]}", netnsReuse: 2)
        } throws: { error in "\(error)".contains("services[0].sandbox.cap_add") && "\(error)".contains("NET_ADMIN") }
        #expect(throws: Never.self) { try load("{cap_add: [NET_ADMIN]}", netnsReuse: 1) }
    }

    @Test func spec_carriesTheSandbox() throws {
        let service = try load(#"{read_only: true, tmpfs: {/tmp: ""}, cap_drop: [ALL]}"#).services[0]
        let spec = ContainerSpec.session(service: service, instance: "i", client: nil, publish: nil, logDriver: nil)
        #expect(spec.hostConfig.readonlyRootfs == true)
        #expect(spec.hostConfig.tmpfs == ["/tmp": ""])
        #expect(spec.hostConfig.capDrop == ["ALL"])
        #expect(spec.hostConfig.capAdd == nil)
        #expect(spec.hostConfig.securityOpt == ["no-new-privileges"])
    }
}
