/// Writes the shared parts of request and response heads. Text that came from configuration or
/// callers is made safe on the way out instead of trapping: a CR or LF inside a value would let
/// it inject header lines (RFC 9110 §5.5 tells recipients to treat them as SP; we do so when
/// sending).
enum HTTPSerializer {
    /// Appends `text` with CR, LF and NUL replaced by SP.
    static func appendText(_ text: String, into buffer: inout [UInt8]) {
        for byte in text.utf8 {
            buffer.append(byte == HTTPBytes.cr || byte == HTTPBytes.lf || byte == 0 ? HTTPBytes.space : byte)
        }
    }

    /// Appends a field name; bytes that are not `tchar` become `-` so the line stays one field.
    static func appendName(_ name: String, into buffer: inout [UInt8]) {
        for byte in name.utf8 {
            buffer.append(HTTPBytes.isTokenByte(byte) ? byte : UInt8(ascii: "-"))
        }
    }

    /// Appends a request target; spaces, controls and non-ASCII bytes are percent-encoded
    /// (RFC 3986 §2.1) because the request line is split on SP (RFC 9112 §3).
    static func appendTarget(_ target: String, into buffer: inout [UInt8]) {
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in target.utf8 {
            if byte > 0x20 && byte < 0x7F {
                buffer.append(byte)
            } else {
                buffer.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            }
        }
    }

    /// Appends every field as `Name: value` CRLF, then the empty line that ends the head.
    static func appendFields(_ headers: HTTPHeaders, into buffer: inout [UInt8]) {
        for field in headers {
            appendName(field.name, into: &buffer)
            buffer.append(HTTPBytes.colon)
            buffer.append(HTTPBytes.space)
            appendText(field.value, into: &buffer)
            buffer.append(contentsOf: HTTPBytes.crlf)
        }
        buffer.append(contentsOf: HTTPBytes.crlf)
    }
}
