import Glibc

/// The libFuzzer entry point: hands each input to the target named by `$FUZZ_TARGET`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    FuzzTargets.selected(input)
    return 0
}

/// Every fuzz target by name: what `$FUZZ_TARGET` may say and what scripts/fuzz.sh runs.
enum FuzzTargets {
    static let all: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("http-response", ResponseTarget.run),
        ("http-request", RequestTarget.run),
        ("chunked", ChunkedTarget.run),
        ("lines", LineTarget.run),
        ("docker", DockerTarget.run),
        ("consul", ConsulTarget.run),
        ("config", ConfigTarget.run),
        ("address", AddressTarget.run),
        ("proxy", ProxyTarget.run),
        ("takeover", TakeoverTarget.run),
    ]

    /// Looked up once: an unknown name ends the run before the first input.
    static let selected: @Sendable ([UInt8]) -> Void = {
        let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = all.first(where: { $0.name == name }) else {
            let message = "ganger-fuzz: set FUZZ_TARGET to one of: \(all.map(\.name).joined(separator: " "))\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            exit(2)
        }
        return target.run
    }()
}

/// Fails the input when a property does not hold: the message goes to stderr, then the trap
/// makes libFuzzer save the input as a crash.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if condition() { return }
    fatalError("property violated: \(message())", file: file, line: line)
}
