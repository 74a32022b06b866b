import Testing
@testable import GangerCore

/// The smallest valid file: one service, everything else defaulted.
private let minimal = """
    services:
      - name: echo
        listen: 0.0.0.0:5454
        image: ganger-echo:latest
        port: 12345
    """

/// Every error of a document that must not load, as `path: message` lines.
private func errors(_ yaml: String, environment: [String: String] = [:]) -> [String] {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, source: "test.yml", environment: environment)
        Issue.record("the document loaded, but errors were expected")
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// `minimal` with `lines` added to its only service.
private func service(_ lines: String...) -> String {
    minimal + "\n" + lines.map { "    " + $0 }.joined(separator: "\n")
}

@Suite struct ConfigErrorTests {
    @Test func unknownKey_isReportedWithItsFullPath() {
        #expect(errors(service("colour: red")) == ["services[0].colour: unknown key"])
        #expect(errors(service("ready: {attempts: 3, intervall: 1s}")) == ["services[0].ready.intervall: unknown key"])
        #expect(errors("logging: {}\n" + minimal) == ["logging: unknown key"])
    }

    @Test func badDuration_namesValueAndForms() {
        let yaml = minimal + """

              - name: two
                listen: 0.0.0.0:5455
                image: x
                port: 1
                ready: {interval: 5 parsecs}
            """
        #expect(errors(yaml) == [
            "services[1].ready.interval: \"5 parsecs\" is not a duration (use 250ms, 5s, 2m, 1h)",
        ])
        #expect(errors("shutdown_grace: 30\n" + minimal) == [
            "shutdown_grace: 30 is not a duration (use 250ms, 5s, 2m, 1h)",
        ])
    }

    @Test func badSize_namesValueAndForms() {
        #expect(errors(service("limits: {memory: 256 megs}")) == [
            "services[0].limits.memory: \"256 megs\" is not a size (use 64k, 256m, 1g)",
        ])
        #expect(errors(service("limits: {memory: 1m}")) == [
            "services[0].limits.memory: 1m is below Docker's minimum of 6m (0 = no limit)",
        ])
        #expect(errors(service("limits: {log: 512}")) == [
            "services[0].limits.log: 512b is below the minimum of 1k (0 = the daemon's own log settings)",
        ])
        #expect(errors(service("limits: {log: lots}")) == [
            "services[0].limits.log: \"lots\" is not a size (use 64k, 256m, 1g)",
        ])
    }

    @Test func badPort_isOutOfRangeOrNotTCP() {
        let tooBig = minimal.replacing("port: 12345", with: "port: 70000")
        #expect(errors(tooBig) == ["services[0].port: 70000 is not a port (1-65535)"])
        let udp = minimal.replacing("port: 12345", with: "port: 53/udp")
        #expect(errors(udp) == [
            "services[0].port: \"53/udp\": only TCP ports can be proxied (write 12345 or \"12345/tcp\")",
        ])
    }

    @Test func missingRequiredKeys_areEachReported() {
        #expect(errors("services:\n  - {name: echo, port: 80}") == [
            "services[0].listen: missing", "services[0].image: missing",
        ])
        #expect(errors("instance: x") == ["services: at least one service is required"])
        #expect(errors("services: []") == ["services: at least one service is required"])
        #expect(errors("") == ["services: at least one service is required"])
    }

    @Test func listenHostName_isRefusedWithTheReason() {
        let named = minimal.replacing("listen: 0.0.0.0:5454", with: "listen: localhost:5454")
        #expect(errors(named) == [
            "services[0].listen: \"localhost:5454\": a listen address needs a numeric IP, not a host name "
                + "(e.g. 0.0.0.0:5454, 127.0.0.1:5454 or [::]:5454)",
        ])
    }

    @Test func duplicateNamesAndListenAddresses_pointAtTheFirst() {
        let yaml = minimal + """

              - name: echo
                listen: 127.0.0.1:5454
                image: x
                port: 1
            status: {listen: "127.0.0.1:5454"}
            """
        #expect(errors(yaml) == [
            "services[1].name: \"echo\" is already the name of services[0]",
            "services[1].listen: 127.0.0.1:5454 overlaps services[0].listen (0.0.0.0:5454)",
            "status.listen: 127.0.0.1:5454 overlaps services[0].listen (0.0.0.0:5454)",
        ])
    }

    @Test func badDockerHost_isReportedAgainstDaemons() {
        #expect(errors(minimal, environment: ["DOCKER_HOST": "nonsense"]) == [
            "daemons: default from $DOCKER_HOST: \"nonsense\" is not a daemon URL "
                + "(use unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT])",
        ])
    }

    @Test func badName_saysWhatIsAllowed() {
        let upper = minimal.replacing("name: echo", with: "name: Echo")
        #expect(errors(upper) == [
            "services[0].name: \"Echo\" is not a valid name (lower-case letters, digits, '_', '.', '-'; "
                + "starting with a letter or digit)",
        ])
    }

    @Test func daemonsAndConsul_areMutuallyExclusive() {
        let yaml = "daemons: [{url: unix:///d.sock}]\nconsul: {hosts: [consul:8500]}\n" + minimal
        #expect(errors(yaml) == [
            "consul: daemons and consul are mutually exclusive: list daemons or discover them, not both",
        ])
    }

    @Test func zeroCaps_everywhereAreRejected() {
        let yaml = """
            daemons:
              - {url: "unix:///a.sock", max_containers: 0}
              - {url: "tcp://b:2375", max_containers: 0}

            """ + minimal
        #expect(errors(yaml) == [
            "daemons: every daemon has max_containers 0, so no container could ever start "
                + "(raise one cap, or -1 for unlimited)",
        ])
    }

    @Test func daemonRules_capRangeTLSAndDuplicates() {
        let yaml = """
            daemons:
              - {url: "unix:///a.sock", max_containers: -2}
              - {url: "unix:///b.sock", cert_path: /certs}
              - {url: "tcp://c:2376", cert_path: /certs, tls: {ca: a, cert: b}}
              - {url: "unix:///a.sock"}

            """ + minimal
        #expect(errors(yaml) == [
            "daemons[0].max_containers: -2 is less than -1 (-1 = unlimited, 0 = none)",
            "daemons[1].cert_path: TLS applies only to tcp:// daemons, not unix:///b.sock",
            "daemons[2].tls.key: missing",
            "daemons[2].cert_path: give either tls or cert_path, not both",
            "daemons[3].url: unix:///a.sock is already listed as daemons[0]",
        ])
    }

    @Test func consulDaemonTLS_rules() {
        #expect(errors("consul: {daemon_cert_path: /c, daemon_tls: {ca: a, cert: b, key: c}}\n" + minimal) == [
            "consul.daemon_cert_path: give either daemon_tls or daemon_cert_path, not both",
        ])
        #expect(errors("consul: {daemon_tls: {ca: a, cert: \"\", colour: red}}\n" + minimal) == [
            "consul.daemon_tls.colour: unknown key",
            "consul.daemon_tls.cert: must not be empty",
            "consul.daemon_tls.key: missing",
        ])
        #expect(errors("consul: {tls: {ca: a, cert: b, key: c}}\n" + minimal) == ["consul.tls: unknown key"])
    }

    @Test func envClientAddress_withWarmPool_explainsWhy() {
        #expect(errors(service("client_address: env", "pool: {warm: 2}")) == [
            "services[0].client_address: env cannot be used with pool.warm 2: a pooled container is started "
                + "before its client is known (use proxy-v1 or proxy-v2, or pool.warm 0)",
        ])
    }

    @Test func rangeRules_forPoolNetnsQueue() {
        #expect(errors(service("pool: {reuse: 0}", "netns: {holders: -1, reuse: 0}", "queue: {max: -5}")) == [
            "services[0].pool.reuse: 0 is less than 1 (sessions per container)",
            "services[0].queue.max: -5 is less than 0 (0 = no queueing)",
            "services[0].netns.holders: -1 is less than 0 (holders kept ready)",
            "services[0].netns.reuse: 0 is less than 1 (sessions per holder)",
        ])
    }

    @Test func badChoices_listTheAllowedValues() {
        #expect(errors(service("pull: sometimes", "client_address: proxy-v3")) == [
            "services[0].pull: \"sometimes\" is not one of always, missing, never",
            "services[0].client_address: \"proxy-v3\" is not one of none, env, proxy-v1, proxy-v2",
        ])
        #expect(errors("log: {level: verbose}\nconsul: {consistency: strong}\n" + minimal) == [
            "consul.consistency: \"strong\" is not one of stale, default, consistent",
            "log.level: \"verbose\" is not one of trace, debug, info, notice, warning, error, critical",
        ])
    }

    @Test func wrongShapes_sayWhatWasExpected() {
        #expect(errors("services: {name: echo}") == [
            "services: must be a list, not a mapping", "services: at least one service is required",
        ])
        #expect(errors(service("ready: fast")) == [
            "services[0].ready: must be a mapping of attempts, interval, timeout, not the value \"fast\"",
        ])
        #expect(errors(service("env: {A: [1, 2], B: }")) == [
            "services[0].env.A: must be a single value, not a list",
            "services[0].env.B: missing value (write B: \"\" for an empty string)",
        ])
    }

    @Test func manyErrors_areReportedAtOnceInDocumentOrder() {
        let yaml = """
            instance: Bad Name
            services:
              - name: echo
                listen: 0.0.0.0:5454
                port: 99999
                colour: blue
                ready: {timeout: 0s}
              - name: echo
                listen: 0.0.0.0:5455
                image: x
                port: 1
            docker_timeout: forever
            """
        #expect(errors(yaml) == [
            "instance: \"Bad Name\" is not a valid instance name (lower-case letters, digits, '_', '.', '-'; "
                + "starting with a letter or digit)",
            "services[0].colour: unknown key",
            "services[0].image: missing",
            "services[0].port: 99999 is not a port (1-65535)",
            "services[0].ready.timeout: must be more than 0s: a container that never answers would hold its client forever",
            "docker_timeout: \"forever\" is not a duration (use 250ms, 5s, 2m, 1h)",
            "services[1].name: \"echo\" is already the name of services[0]",
        ])
    }

    @Test func yamlSyntaxError_isOneErrorWithLineAndColumn() {
        #expect(errors("services: [unclosed\n") == [
            "not valid YAML: line 2, column 1: did not find expected ',' or ']' (while parsing a flow sequence at line 1)",
        ])
        #expect(errors("services:\n  - image: a\n    image: b\n") == [
            "not valid YAML: the mapping at line 2 has a key twice: image",
        ])
    }

    @Test func errorsDescription_prefixesEveryLineWithTheSource() {
        let all = ConfigErrors(source: "ganger.yml", errors: [
            ConfigError(path: "services[0].image", message: "missing"), ConfigError(path: "", message: "boom"),
        ])
        #expect(all.description == "ganger.yml: services[0].image: missing\nganger.yml: boom")
    }
}
