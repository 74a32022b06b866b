import Glibc
import Testing
@testable import GangerCore

/// The instance lease's view of a local pid (`ProcessState`): a zombie is gone.
@Suite struct ProcessStateTests {
    private func stat(_ text: String) -> UInt8? { ProcessState.state(inStat: Array(text.utf8)[...]) }

    @Test func stateLetter_isTheFieldAfterTheLastParenthesis_whateverTheCommandHolds() {
        #expect(stat("1 (sleep) S 0 1 1") == UInt8(ascii: "S"))
        #expect(stat("1234 (gan ger) x) Z 1 2 3") == UInt8(ascii: "Z"))
        #expect(stat("7 ((a)) t 1") == UInt8(ascii: "t"))
        #expect(stat("1 (sleep)") == nil)
        #expect(stat("1 (sleep)S 0") == nil)
        #expect(stat("1 sleep S 0") == nil)
        #expect(stat("1 (sleep) 5 0") == nil)
    }

    @Test func thisProcess_isAlive_andNoPid_isNot() {
        #expect(ProcessState.isAlive(getpid()))
        #expect(ProcessState.state(of: getpid()) == UInt8(ascii: "R") || ProcessState.state(of: getpid()) == UInt8(ascii: "S"))
        #expect(!ProcessState.isAlive(0))
        #expect(!ProcessState.isAlive(-1))
    }

    /// A child killed and not yet reaped is a zombie: kill(pid, 0) still succeeds, but it counts
    /// as gone; reaped, it is gone for kill(2) too.
    @Test func killedChild_notReaped_isAZombie_andNotAlive() throws {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { for arg in argv { free(arg) } }
        let spawned = posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
        try #require(spawned == 0, "posix_spawn: \(spawned)")
        var reaped = false
        defer {
            if !reaped {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
        #expect(ProcessState.isAlive(pid))
        kill(pid, SIGKILL)
        var state: UInt8?
        for _ in 0..<200 {
            state = ProcessState.state(of: pid)
            if state == UInt8(ascii: "Z") { break }
            usleep(10_000)
        }
        try #require(state == UInt8(ascii: "Z"), "the killed child's state: \(state.map { String(UnicodeScalar($0)) } ?? "none")")
        #expect(kill(pid, 0) == 0, "kill(2) still answers for a zombie")
        #expect(!ProcessState.isAlive(pid))
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        reaped = true
        #expect(!ProcessState.isAlive(pid))
    }
}
