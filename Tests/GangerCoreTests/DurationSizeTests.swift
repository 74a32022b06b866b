import Testing
@testable import GangerCore

@Suite struct DurationSizeTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("2m", .seconds(120)),
        ("1h", .seconds(3600)), ("0", .zero), ("0s", .zero), ("0ms", .zero), ("1500ms", .milliseconds(1500)),
    ])
    func duration_parsesEveryUnit(text: String, expected: Duration) {
        #expect(Duration(configString: text) == expected)
    }

    @Test(arguments: ["", "5", "5 s", "5sec", "1.5s", "-1s", "s", "ms", "5parsecs", "1d", "99999999999999999999h"])
    func duration_rejectsOtherSpellings(text: String) {
        #expect(Duration(configString: text) == nil)
    }

    @Test func duration_overflowIsRejectedNotWrapped() {
        #expect(Duration(configString: "9223372036854775807h") == nil)
    }

    @Test(arguments: [
        (Duration.zero, "0s"), (.milliseconds(250), "250ms"), (.seconds(30), "30s"), (.seconds(60), "1m"),
        (.seconds(90), "90s"), (.seconds(300), "5m"), (.seconds(3600), "1h"), (.seconds(5400), "90m"),
        (.milliseconds(1500), "1500ms"), (.microseconds(1500), "2ms"),
    ])
    func duration_rendersInLargestExactUnit(duration: Duration, expected: String) {
        #expect(duration.configString == expected)
    }

    @Test func duration_renderedFormParsesBack() {
        for millis in [0, 1, 999, 1000, 59_999, 60_000, 3_600_000, 86_400_000] as [Int64] {
            let duration = Duration.milliseconds(millis)
            #expect(Duration(configString: duration.configString) == duration)
        }
    }

    @Test(arguments: [
        ("64k", Int64(65536)), ("256m", 268_435_456), ("1g", 1_073_741_824), ("1048576", 1_048_576),
        ("512b", 512), ("0", 0), ("256M", 268_435_456), ("256mb", 268_435_456), ("1GB", 1_073_741_824),
        ("2t", 2_199_023_255_552),
    ])
    func size_parsesSuffixes(text: String, bytes: Int64) {
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: ["", "b", "k", "kb", "1.5g", "-1m", "12x", "1 m", "1bk", "99999999999t"])
    func size_rejectsOtherSpellings(text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test(arguments: [
        (Int64(0), "0"), (268_435_456, "256m"), (1_073_741_824, "1g"), (1_572_864, "1536k"), (1000, "1000b"),
        (65536, "64k"),
    ])
    func size_rendersShortestExactForm(bytes: Int64, expected: String) {
        #expect(ByteSize(bytes: bytes).description == expected)
        #expect(ByteSize(parsing: expected)?.bytes == bytes)
    }
}
