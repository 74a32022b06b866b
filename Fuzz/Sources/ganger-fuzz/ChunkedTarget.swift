@testable import EventLoop

/// HTTPChunkedDecoder. Input: a chunked body as a daemon might send it, and (second property)
/// data that a reference encoder frames first.
///
/// Properties: bytes out ≤ bytes in; the same bytes out and the same error whether the input
/// arrives whole, cut or in small pieces; it stops exactly after the last chunk's trailers, never
/// past the input; and any data framed by the reference encoder (chunk sizes and extensions
/// taken from the input) decodes back to exactly that data, ending where the framing ends.
enum ChunkedTarget {
    static func run(_ input: [UInt8]) {
        let whole = decode([input])
        require(whole.data.count <= input.count, "\(whole.data.count) bytes out of \(input.count) in")
        require(whole.consumed <= input.count, "consumed \(whole.consumed) of \(input.count)")
        let cut = decode(Split.twoPieces(input, at: Split.point(input, count: input.count)))
        require(whole == cut, "cut input decodes differently: \(whole) vs \(cut)")
        let bytewise = decode(Split.small(input))
        require(whole == bytewise, "input in small pieces decodes differently: \(whole) vs \(bytewise)")
        let framed = encode(input)
        let back = decode([framed + [0x58]])
        require(back.error == nil && back.done, "reference framing refused: \(String(describing: back.error))")
        require(back.data == input, "reference framing decodes to \(back.data.count) bytes, not \(input.count)")
        require(back.consumed == framed.count, "stopped at \(back.consumed), the framing has \(framed.count)")
    }

    struct Outcome: Equatable {
        var data: [UInt8] = []
        var done = false
        /// Bytes consumed when done (the rest belongs to the next message); all of them while
        /// not done; 0 after an error.
        var consumed = 0
        var error: HTTPParseError?
    }

    static func decode(_ pieces: [[UInt8]]) -> Outcome {
        var decoder = HTTPChunkedDecoder()
        var outcome = Outcome()
        var offset = 0
        do throws(HTTPParseError) {
            for piece in pieces {
                var index = 0
                let result = piece.withUnsafeBytes { buffer in
                    Result { () throws(HTTPParseError) in try decoder.decode(buffer, at: &index) { outcome.data += $0 } }
                }
                let done = try result.get()
                require(index <= piece.count, "index \(index) past a piece of \(piece.count)")
                if done {
                    outcome.done = true
                    outcome.consumed = offset + index
                    break
                }
                offset += piece.count
            }
        } catch {
            outcome.error = error
        }
        if !outcome.done { outcome.consumed = outcome.error == nil ? offset : 0 }
        return outcome
    }

    /// RFC 9112 §7.1 framing of `data`, chunk sizes from the data itself, hex digits in either
    /// case, an extension on some chunks, a trailer field when the data's length is odd.
    static func encode(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        var turn = 0
        while index < data.count {
            let size = min(data.count - index, Int(data[index]) % 37 + 1)
            let hex = String(size, radix: 16, uppercase: turn % 2 == 0)
            out += Array(hex.utf8)
            if turn % 3 == 1 { out += Array(#" ; name = "quoted \" value""#.utf8) }
            if turn % 3 == 2 { out += Array(";x=1;flag".utf8) }
            out += [0x0D, 0x0A] + data[index..<(index + size)] + [0x0D, 0x0A]
            index += size
            turn += 1
        }
        out += Array("0\r\n".utf8)
        if data.count % 2 == 1 { out += Array("Trailer-Field: yes\r\n".utf8) }
        return out + [0x0D, 0x0A]
    }
}

/// LineSplitter, as the `/events` and pull streams use it.
///
/// Properties: bytes out ≤ bytes in; no line holds a LF or is empty; the lines are exactly the
/// input's LF-separated lines with one trailing CR dropped and empty ones skipped; the same
/// lines whether the input arrives whole, cut or in small pieces.
enum LineTarget {
    static func run(_ input: [UInt8]) {
        let whole = split([input])
        let out = whole.reduce(0) { $0 + $1.count }
        require(out <= input.count, "\(out) bytes out of \(input.count) in")
        require(whole.allSatisfy { !$0.isEmpty && !$0.contains(0x0A) }, "an empty line or one with a LF")
        let expected = input.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            line.last == 0x0D ? Array(line.dropLast()) : Array(line)
        }.filter { !$0.isEmpty }
        require(whole == expected, "lines \(whole) differ from the reference \(expected)")
        let cut = split(Split.twoPieces(input, at: Split.point(input, count: input.count)))
        require(whole == cut, "cut input splits differently")
        require(whole == split(Split.small(input)), "input in small pieces splits differently")
    }

    static func split(_ pieces: [[UInt8]]) -> [[UInt8]] {
        var splitter = LineSplitter(maxLineLength: 1 << 20)
        var lines: [[UInt8]] = []
        do {
            for piece in pieces { lines += try splitter.feed(piece) }
        } catch {
            require(false, "a line under the limit refused: \(error)")
        }
        if let last = splitter.finish() { lines.append(last) }
        return lines
    }
}
