import FoundationEssentials
import Glibc
import EventLoop
import Testing
@testable import GangerCore

/// The defaults and switches that decide what a session container and a remote daemon's host
/// expose: the sandbox preset, `host_ip`, and what `ganger check` shows or warns about.
@Suite struct HardeningConfigTests {
    private func parse(_ yaml: String) throws -> GangerConfig {
        try ConfigLoader.parse(yaml: yaml, source: "t.yml", environment: [:])
    }

    private func service(_ keys: String = "") throws -> ServiceConfig {
        try parse("""
            services:
              - name: shell
                listen: 127.0.0.1:7000
                image: busybox
                port: 12345
            \(keys.isEmpty ? "" : "    " + keys)
            """).services[0]
    }

    private func daemons(_ entries: String) throws -> GangerConfig {
        try parse("daemons:\n\(entries)\nservices: [{name: s, listen: 127.0.0.1:7000, image: busybox, port: 1}]\n")
    }

    // MARK: Sandbox

    @Test func defaultSandbox_dropsNetRaw_andNothingElse() throws {
        let spec = ContainerSpec.session(service: try service(), instance: "i", client: nil, publish: nil, logDriver: nil)
        #expect(spec.hostConfig.capDrop == ["NET_RAW"])
        #expect(spec.hostConfig.capAdd == nil)
        #expect(spec.hostConfig.readonlyRootfs == nil)
        #expect(spec.hostConfig.tmpfs == nil)
        #expect(spec.hostConfig.securityOpt == ["no-new-privileges"])
        #expect(spec.hostConfig.pidsLimit == 256)
    }

    @Test func sessionLog_boundOnTheDaemonsFileDrivers_asTwoHalves_andLeftAloneElsewhere() throws {
        let plain = try service()
        #expect(plain.limits.log == ByteSize(bytes: 10 << 20), "on by default")
        for driver in ["json-file", "local"] {
            let spec = ContainerSpec.session(service: plain, instance: "i", client: nil, publish: nil, logDriver: driver)
            #expect(spec.hostConfig.logConfig == ContainerSpec.LogConfig(
                type: driver, config: ["max-size": "\(5 << 20)", "max-file": "2"]), "\(driver)")
        }
        // Drivers that keep no growing file of Docker's own, or do not say: Docker would refuse
        // max-size for them, and every create with it.
        for driver in ["journald", "syslog", "fluentd", "none", nil] as [String?] {
            let spec = ContainerSpec.session(service: plain, instance: "i", client: nil, publish: nil, logDriver: driver)
            #expect(spec.hostConfig.logConfig == nil, "\(String(describing: driver))")
        }
        let unbounded = try service("limits: {log: 0}")
        #expect(ContainerSpec.session(service: unbounded, instance: "i", client: nil, publish: nil, logDriver: "json-file")
            .hostConfig.logConfig == nil, "0: the daemon's own settings")
        let small = try service("limits: {log: 3k}")
        #expect(ContainerSpec.session(service: small, instance: "i", client: nil, publish: nil, logDriver: "local")
            .hostConfig.logConfig?.config == ["max-size": "1536", "max-file": "2"])
    }

    @Test func check_warnsAboutAnUnboundedSessionLog_only() throws {
        let config = try parse("""
            services:
              - {name: a, listen: 127.0.0.1:7000, image: b, port: 1}
              - {name: b, listen: 127.0.0.1:7001, image: b, port: 1, limits: {log: 0}}
              - {name: c, listen: 127.0.0.1:7002, image: b, port: 1, limits: {log: 1k}}
            """)
        let warnings = config.warnings()
        #expect(warnings.count == 1 && warnings[0].hasPrefix("services[1].limits.log: 0 leaves a session's log"), "\(warnings)")
    }

    @Test func sessionLog_sentAsDockersLogConfig() throws {
        let spec = ContainerSpec.session(service: try service(), instance: "i", client: nil, publish: nil, logDriver: "json-file")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(spec.hostConfig), as: UTF8.self)
        #expect(json.contains(#""LogConfig":{"Config":{"max-file":"2","max-size":"5242880"},"Type":"json-file"}"#), "\(json)")
    }

    @Test func strictPreset_dropsEverything_readOnlyRoot_tmpfsTmp_pidsLimit() throws {
        let strict = try service("sandbox: {preset: strict}")
        #expect(strict.sandbox.preset == .strict)
        let spec = ContainerSpec.session(service: strict, instance: "i", client: nil, publish: nil, logDriver: nil)
        #expect(spec.hostConfig.capDrop == ["ALL"])
        #expect(spec.hostConfig.capAdd == nil)
        #expect(spec.hostConfig.readonlyRootfs == true)
        #expect(spec.hostConfig.tmpfs == ["/tmp": "rw,noexec,nosuid,nodev,size=64m"])
        #expect(spec.hostConfig.securityOpt == ["no-new-privileges"])
        #expect(spec.hostConfig.pidsLimit == 64)
    }

    @Test func explicitKeys_overrideThePreset_oneByOne() throws {
        let s = try service(#"sandbox: {preset: strict, read_only: false, tmpfs: {/scratch: "size=1m"}, cap_add: [chown]}"#)
        #expect(!s.sandbox.readOnly)
        #expect(s.sandbox.tmpfs == ["/scratch": "size=1m"])
        #expect(s.sandbox.capDrop == ["ALL"])
        #expect(s.sandbox.capAdd == ["CHOWN"])
        let pids = try parse("""
            services:
              - {name: s, listen: 127.0.0.1:7000, image: busybox, port: 1, limits: {pids: 500}, sandbox: {preset: strict}}
            """).services[0]
        #expect(pids.limits.pids == 500, "limits.pids given: the preset does not change it")
        let none = try service("sandbox: {cap_drop: []}")
        #expect(none.sandbox.capDrop == [], "an explicit empty list keeps every default capability")
        #expect(ContainerSpec.session(service: none, instance: "i", client: nil, publish: nil, logDriver: nil).hostConfig.capDrop == nil)
    }

    @Test func unknownPreset_namesTheChoices() {
        #expect {
            try service("sandbox: {preset: paranoid}")
        } throws: { error in
            "\(error)".contains("services[0].sandbox.preset: \"paranoid\" is not one of default, strict")
        }
    }

    @Test func check_printsTheEffectiveSandbox_andItReadsBack() throws {
        let config = try parse("""
            services:
              - {name: s, listen: 127.0.0.1:7000, image: busybox, port: 1, sandbox: {preset: strict, cap_add: [chown]}}
            """)
        let text = config.renderYAML()
        #expect(text.contains(#"    limits: {memory: 256m, cpus: 1.0, pids: 64, log: 10m}"#), "\(text)")
        #expect(text.contains(#"    sandbox: {preset: strict, read_only: true, tmpfs: {/tmp: "rw,noexec,nosuid,nodev,size=64m"}, "#
            + "cap_drop: [ALL], cap_add: [CHOWN]}\n"), "\(text)")
        #expect(try parse(text) == config)
    }

    // MARK: host_ip

    @Test func remoteDaemon_publishesOnTheGivenHostIP_localDaemonPublishesNothing() throws {
        let s = try service()
        let spec = ContainerSpec.session(service: s, instance: "i", client: nil, publish: "10.0.0.5", logDriver: nil)
        #expect(spec.hostConfig.portBindings?["12345/tcp"]?.map(\.hostIp) == ["10.0.0.5"])
        #expect(spec.hostConfig.portBindings?["12345/tcp"]?.map(\.hostPort) == [""])
        #expect(ContainerSpec.session(service: s, instance: "i", client: nil, publish: nil, logDriver: nil).hostConfig.portBindings == nil)
    }

    @Test func hostIP_parses_auto_anAddress_orEveryInterface() throws {
        let config = try daemons("""
              - {url: "tcp://10.0.0.5:2376"}
              - {url: "tcp://10.0.0.6:2376", host_ip: auto}
              - {url: "ssh://ops@10.0.0.7", host_ip: 192.168.1.7}
              - {url: "tcp://[2001:db8::8]:2376", host_ip: "2001:db8::8"}
              - {url: "tcp://10.0.0.9:2376", host_ip: 0.0.0.0}
              - {url: "tcp://10.0.0.10:2376", host_ip: ""}
            """)
        #expect(config.daemons.map(\.hostIP) == [nil, nil, "192.168.1.7", "2001:db8::8", "0.0.0.0", ""])
        #expect(try parse(config.renderYAML()) == config)
        #expect(config.renderYAML().contains("  - url: tcp://10.0.0.5:2376\n    max_containers: 16\n    host_ip: auto\n"))
    }

    @Test func hostIP_badValues_andOnALocalDaemon_areConfigErrors() {
        #expect {
            try daemons(#"  - {url: "tcp://10.0.0.5:2376", host_ip: my-host}"#)
        } throws: { error in
            "\(error)".contains("daemons[0].host_ip: \"my-host\" is not a numeric IP address")
        }
        #expect {
            try daemons(#"  - {url: "unix:///var/run/docker.sock", host_ip: 127.0.0.1}"#)
        } throws: { error in
            "\(error)".contains("daemons[0].host_ip: applies only to tcp:// and ssh:// daemons")
        }
    }

    @Test func check_warnsAboutAnOpenBindingOnARemoteDaemon_only() throws {
        let config = try daemons("""
              - {url: "tcp://10.0.0.5:2376"}
              - {url: "tcp://10.0.0.6:2376", host_ip: 0.0.0.0}
              - {url: "ssh://10.0.0.7", host_ip: "::"}
              - {url: "tcp://10.0.0.8:2376", host_ip: ""}
              - {url: "tcp://10.0.0.9:2376", host_ip: 10.0.0.9}
            """)
        let warnings = config.warnings()
        #expect(warnings.map { String($0.prefix { $0 != ":" }) } == ["daemons[1].host_ip", "daemons[2].host_ip", "daemons[3].host_ip"])
        #expect(warnings.allSatisfy { $0.contains("every interface of the daemon's host") && $0.contains("bypassing Ganger") })
        #expect(try daemons(#"  - {url: "unix:///var/run/docker.sock"}"#).warnings() == [])
        let consul = try parse("consul: {host_ip: 0.0.0.0}\nservices: [{name: s, listen: 127.0.0.1:7000, image: b, port: 1}]\n")
        #expect(consul.consul?.hostIP == "0.0.0.0")
        #expect(consul.warnings().count == 1 && consul.warnings()[0].hasPrefix("consul.host_ip: 0.0.0.0 publishes"))
        #expect(try parse(consul.renderYAML()) == consul)
    }

    @Test func everyInterface_coversEverySpellingOfTheWildcard() {
        for open in ["", "0.0.0.0", "::", "0:0:0:0:0:0:0:0", "::0"] { #expect(DaemonConfig.isEveryInterface(open), "\(open)") }
        for one in ["10.0.0.5", "::1", "2001:db8::", "127.0.0.1"] { #expect(!DaemonConfig.isEveryInterface(one), "\(one)") }
    }

    // MARK: env

    @Test func check_masksEnvValues_unlessAskedToShowThem() throws {
        let config = try service(#"env: {DB_PASSWORD: "hunter2", MODE: "x"}"#)
        let full = try parse("""
            services:
              - {name: s, listen: 127.0.0.1:7000, image: busybox, port: 1, env: {DB_PASSWORD: "hunter2", MODE: "x"}}
            """)
        #expect(config.env["DB_PASSWORD"] == "hunter2")
        let masked = full.renderYAML()
        #expect(!masked.contains("hunter2"), "\(masked)")
        #expect(masked.contains("      DB_PASSWORD: \"***\"\n      MODE: \"***\"\n"), "\(masked)")
        let shown = full.renderYAML(showSecrets: true)
        #expect(shown.contains("      DB_PASSWORD: hunter2\n"), "\(shown)")
        #expect(try parse(shown) == full)
    }

    @Test func gangerCheck_masksEnv_warnsOnStderr_andStillExits0() throws {
        let path = try temporaryFile("ganger.yml", Array("""
            daemons:
              - {url: "tcp://10.0.0.5:2376", host_ip: 0.0.0.0}
            services:
              - {name: db, listen: 127.0.0.1:7000, image: busybox, port: 1, env: {PASSWORD: hunter2}}
            """.utf8))
        defer { unlink(path); rmdir(String(path.dropLast("/ganger.yml".count))) }
        let ganger = buildProductsDirectory() + "/ganger"
        let masked = try runProcess(ganger, ["check", "-c", path], timeoutSeconds: 30)
        #expect(masked.status == 0, "\(masked.output)")
        #expect(!masked.output.contains("hunter2"), "\(masked.output)")
        #expect(masked.output.contains("ganger check: warning: daemons[0].host_ip: 0.0.0.0 publishes"), "\(masked.output)")
        let shown = try runProcess(ganger, ["check", "-c", path, "--show-secrets"], timeoutSeconds: 30)
        #expect(shown.status == 0 && shown.output.contains("      PASSWORD: hunter2\n"), "\(shown.output)")
    }
}
