@testable import EventLoop

/// HTTPResponseParser on daemon replies. Input: one control byte (bit i set: the i-th response
/// answers HEAD), then the bytes of the connection.
///
/// Properties: the same events (body pieces joined) and the same error, end of stream
/// included, whether the bytes arrive whole, cut at a point derived from the input, or one
/// byte at a time; a Content-Length body that ends has exactly that many bytes and never more;
/// no response has more body bytes than the input had.
enum ResponseTarget {
    static func run(_ input: [UInt8]) {
        guard let control = input.first else { return }
        let stream = Array(input.dropFirst())
        var richest: Outcome
        let whole = parse([stream], control: control)
        let cut = parse(Split.twoPieces(stream, at: Split.point(input, count: stream.count)), control: control)
        require(whole.agrees(with: cut), "events differ when cut: \(whole) vs \(cut)")
        // The properties below look at the run that got the most events out before an error.
        richest = cut.events.count > whole.events.count ? cut : whole
        let bytewise = parse(Split.small(stream), control: control)
        require(whole.agrees(with: bytewise), "events differ in small pieces: \(whole) vs \(bytewise)")
        if bytewise.events.count > richest.events.count { richest = bytewise }
        checkBodies(richest.events, control: control, inputCount: stream.count)
    }

    typealias Outcome = ParseOutcome<HTTPResponseEvent>

    static func parse(_ pieces: [[UInt8]], control: UInt8) -> Outcome {
        var parser = HTTPResponseParser()
        for bit in 0..<8 { parser.expect(method: control & (1 << bit) != 0 ? .head : .get) }
        var outcome = Outcome()
        do {
            for piece in pieces { append(try parser.feed(piece), to: &outcome.events) }
            append(try parser.finishOnEOF(), to: &outcome.events)
        } catch {
            outcome.error = error
        }
        return outcome
    }

    /// Appends `new`, joining adjacent body pieces so that different cuts compare equal.
    static func append(_ new: [HTTPResponseEvent], to events: inout [HTTPResponseEvent]) {
        for event in new {
            if case .body(let more) = event, case .body(let earlier)? = events.last {
                events[events.count - 1] = .body(earlier + more)
            } else {
                events.append(event)
            }
        }
    }

    static func checkBodies(_ events: [HTTPResponseEvent], control: UInt8, inputCount: Int) {
        var index = 0
        var responses = 0
        while index < events.count {
            guard case .head(let head) = events[index] else {
                require(false, "event \(index) is not a head: \(events[index])")
                return
            }
            let isHead = responses < 8 && control & (1 << responses) != 0
            responses += 1
            index += 1
            var body = 0
            var ended = false
            while index < events.count {
                if case .body(let bytes) = events[index] { body += bytes.count; index += 1; continue }
                if case .end = events[index] { ended = true; index += 1 }
                break
            }
            require(body <= inputCount, "body of \(body) bytes from \(inputCount) input bytes")
            let bodyless = isHead || head.status == 204 || head.status == 304
            if bodyless { require(body == 0, "a \(head.status) response (HEAD: \(isHead)) has \(body) body bytes") }
            let framedByLength = !bodyless && head.status != 101 && !head.headers.contains("transfer-encoding")
            if framedByLength, let length = try? head.headers.contentLength() {
                require(body <= length, "Content-Length \(length) but \(body) body bytes")
                if ended { require(body == length, "Content-Length \(length) but the body ended after \(body) bytes") }
            }
            if !ended { require(index == events.count, "a response without an end is followed by more events") }
        }
    }
}
