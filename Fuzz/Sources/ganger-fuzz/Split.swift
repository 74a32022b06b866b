import EventLoop

/// How a target cuts its input into the pieces a socket might have returned.
enum Split {
    /// A cut point in `0...count` derived from the input, so a saved crash replays the same cut.
    static func point(_ input: [UInt8], count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in input { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(count + 1))
    }

    /// `bytes` as the pieces `[..<cut]`, `[cut...]`.
    static func twoPieces(_ bytes: [UInt8], at cut: Int) -> [[UInt8]] {
        [Array(bytes[..<cut]), Array(bytes[cut...])]
    }

    /// `bytes` one byte per piece up to 1 KiB (the feed cost is per piece); longer inputs in
    /// 16 pieces cut at points derived from them.
    static func small(_ bytes: [UInt8]) -> [[UInt8]] {
        if bytes.count <= 1024 { return bytes.map { [$0] } }
        var cuts: [Int] = []
        var prefix = bytes
        for _ in 0..<15 {
            prefix.append(UInt8(truncatingIfNeeded: cuts.count))
            cuts.append(point(prefix, count: bytes.count))
        }
        var pieces: [[UInt8]] = []
        var start = 0
        for cut in cuts.sorted() + [bytes.count] where cut >= start {
            pieces.append(Array(bytes[start..<cut]))
            start = cut
        }
        return pieces
    }
}

/// What a parser made of a stream: its events (adjacent body pieces joined) and its error.
struct ParseOutcome<Event: Equatable>: Equatable {
    var events: [Event] = []
    var error: HTTPParseError?

    /// Whether `other`, the same bytes cut differently, agrees with this outcome. Without an
    /// error the events must be equal. With one, the error must be the same; the events may
    /// differ only in how many came out before it, since a feed that throws returns none of the
    /// events its own bytes completed: the longer list must start with the shorter one (up to
    /// its last event, which may be a body the other holds more of).
    func agrees(with other: ParseOutcome) -> Bool {
        guard error == other.error else { return false }
        if error == nil { return events == other.events }
        let (short, long) = events.count <= other.events.count ? (events, other.events) : (other.events, events)
        return long.starts(with: short.dropLast())
    }
}
