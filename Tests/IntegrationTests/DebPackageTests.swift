import GangerCore
import Glibc
import Testing
import TestSupport

/// `scripts/build-deb.sh` (what `make deb` runs) end to end: the package builds and lintian
/// finds no error, `dpkg -i` installs it, the shipped configuration passes `ganger check`, man
/// finds the pages, systemd accepts the units, and `dpkg --purge` leaves none of its files.
///
/// Built from the debug binary next to this test bundle (`GANGER_BIN`), not the static release
/// build `make deb` makes (minutes): same files, same scripts. Installs into the real /usr and
/// /etc, so it runs only as root, and not at all when a ganger package is installed already
/// (an operator's install is not ours to purge).
@Suite(.serialized, .timeLimit(.minutes(5)),
       .enabled(if: getuid() == 0 && access("/usr/bin/dpkg", X_OK) == 0, "needs root and dpkg"))
struct DebPackageTests {
    @Test func debBuilds_installs_checks_hasManPages_andPurgesWithoutATrace() async throws {
        let checks = Checks()
        defer { checks.report() }
        try await onThread {
            let installed = try run("/usr/bin/dpkg-query", ["-W", "-f", "${Status}", "ganger"], timeout: .seconds(20))
            guard !installed.stdout.contains("install ok installed") else { throw HarnessError("a ganger package is installed already: not touching it") }
            let out = try TemporaryDirectory()
            let build = try run("/usr/bin/env", ["GANGER_BIN=\(gangerBinary)", "OUT=\(out.path)", "\(repositoryRoot)/scripts/build-deb.sh"],
                                timeout: .seconds(240))
            guard build.status == .exited(0) else { throw HarnessError("build-deb.sh: \(build.status)\n\(build.stderr)") }
            let deb = build.stdout.split(separator: "\n").last.map(String.init) ?? ""
            checks.expect(deb.hasSuffix("/ganger_\(GangerVersion.string)_amd64.deb"), "\(deb)")
            checks.expect(!build.stderr.contains("\nE: "), "lintian errors:\n\(build.stderr)")

            defer { _ = try? run("/usr/bin/dpkg", ["--purge", "ganger"], timeout: .seconds(60)) }
            let install = try run("/usr/bin/dpkg", ["-i", deb], timeout: .seconds(60))
            guard install.status == .exited(0) else { throw HarnessError("dpkg -i: \(install.stdout)\n\(install.stderr)") }
            let files = try run("/usr/bin/dpkg-query", ["-L", "ganger"], timeout: .seconds(20)).stdout
                .split(separator: "\n").map(String.init)
            for expected in ["/usr/bin/ganger", "/etc/ganger/ganger.yml", "/lib/systemd/system/ganger.service",
                             "/lib/systemd/system/ganger.socket", "/usr/share/man/man5/ganger.yml.5.gz",
                             "/usr/share/bash-completion/completions/ganger", "/usr/share/zsh/vendor-completions/_ganger",
                             "/usr/share/fish/vendor_completions.d/ganger.fish"] {
                checks.expect(files.contains(expected), "\(expected) not in the package: \(files)")
            }
            let conffiles = try run("/usr/bin/dpkg-query", ["-W", "-f", "${Conffiles}", "ganger"], timeout: .seconds(20)).stdout
            checks.expect(conffiles.contains("/etc/ganger/ganger.yml"), "conffiles: \(conffiles)")

            let check = try run("/usr/bin/ganger", ["check", "-c", "/etc/ganger/ganger.yml"], timeout: .seconds(30))
            checks.expect(check.status == .exited(0), "ganger check: \(check.status)\n\(check.stderr)")
            checks.expect(check.stdout.contains("listen: 127.0.0.1:5454") && check.stdout.contains("listen: 127.0.0.1:5480"),
                    "the shipped configuration is not loopback only:\n\(check.stdout)")
            let version = try run("/usr/bin/ganger", ["version"], timeout: .seconds(10))
            checks.expect(version.stdout == "ganger \(GangerVersion.string)\n", "\(version)")

            let manual = try run("/usr/bin/man", ["-w", "ganger"], timeout: .seconds(20))
            checks.expect(manual.stdout == "/usr/share/man/man1/ganger.1.gz\n", "man -w ganger: \(manual)")
            let format = try run("/usr/bin/man", ["-w", "5", "ganger.yml"], timeout: .seconds(20))
            checks.expect(format.stdout == "/usr/share/man/man5/ganger.yml.5.gz\n", "man -w 5 ganger.yml: \(format)")
            let run1 = try run("/usr/bin/man", ["-w", "ganger.run"], timeout: .seconds(20))
            checks.expect(run1.stdout == "/usr/share/man/man1/ganger.run.1.gz\n", "man -w ganger.run: \(run1)")

            let verify = try run("/usr/bin/systemd-analyze", ["verify", "/lib/systemd/system/ganger.service",
                                                              "/lib/systemd/system/ganger.socket"], timeout: .seconds(30))
            checks.expect(verify.status == .exited(0) && verify.stderr.isEmpty, "systemd-analyze verify: \(verify)")
            let completion = try run("/bin/bash", ["-c", "source /usr/share/bash-completion/completions/ganger && complete -p ganger"],
                                     timeout: .seconds(10))
            checks.expect(completion.status == .exited(0) && completion.stdout.contains("ganger"), "bash completion: \(completion)")

            let purge = try run("/usr/bin/dpkg", ["--purge", "ganger"], timeout: .seconds(60))
            checks.expect(purge.status == .exited(0), "dpkg --purge: \(purge.stdout)\n\(purge.stderr)")
            let left = files.filter { path in
                var info = stat()
                guard stat(path, &info) == 0 else { return false }
                // Directories shared with other packages (/usr/share/man/man1, /lib) stay; ours go.
                return (info.st_mode & S_IFMT) != S_IFDIR || path == "/etc/ganger" || path == "/usr/share/doc/ganger"
            }
            checks.expect(left.isEmpty, "left behind by dpkg --purge: \(left)")
            let after = try run("/usr/bin/dpkg-query", ["-W", "-f", "${Status}", "ganger"], timeout: .seconds(20))
            checks.expect(!after.stdout.contains("installed") || after.stdout.contains("not-installed"), "still known: \(after.stdout)")
        }
    }
}
