/// One problem found in a configuration: where it is (a key path such as
/// `services[1].ready.interval`, or a command-line flag such as `--port`) and what is wrong.
///
/// The message names the offending value, so the description alone is enough to fix the file.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The key path, e.g. `services[0].port`; empty for problems with the document as a whole.
    public var path: String
    /// What is wrong, e.g. `70000 is not a port (1-65535)`.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `path: message`, or just the message when there is no path.
    public var description: String {
        path.isEmpty ? message : "\(path): \(message)"
    }
}

/// Every problem found in one configuration, in document order (cross-field checks last).
///
/// Loading never stops at the first error: an operator fixing a file wants the whole list.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the configuration came from (a file name, `command line`); prefixes every line.
    public var source: String
    public var errors: [ConfigError]

    public init(source: String, errors: [ConfigError]) {
        self.source = source
        self.errors = errors
    }

    /// One error per line, each prefixed with the source when there is one:
    /// `ganger.yml: services[0].image: missing`.
    public var description: String {
        errors.map { source.isEmpty ? $0.description : "\(source): \($0.description)" }
            .joined(separator: "\n")
    }
}

/// How a value is quoted inside an error message: numbers as they are, anything else in
/// double quotes so that empty strings and trailing spaces stay visible.
func shown(_ text: String) -> String {
    let isNumber = !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") }
        && text.contains(where: \.isNumber)
    if isNumber { return text }
    var out = "\""
    for ch in text.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}
