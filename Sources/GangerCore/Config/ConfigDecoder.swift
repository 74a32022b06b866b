/// Walks a composed YAML tree (`YAMLComposer`) and turns scalars into typed values, recording every problem with
/// its full key path instead of stopping at the first.
///
/// Each accessor returns the caller's default (or nil for required values) after recording an
/// error, so decoding always runs to the end; the caller throws `errors` if there are any.
final class ConfigDecoder {
    private(set) var errors: [ConfigError] = []

    /// Records one problem at `path`.
    func fail(_ path: String, _ message: String) {
        errors.append(ConfigError(path: path, message: message))
    }

    /// The values of a mapping by key, after reporting every key not in `known`.
    /// Nil (with an error) when the node is not a mapping; null counts as an empty mapping.
    func fields(_ node: YAMLNode?, at path: String, known: [String]) -> Fields? {
        guard let node, !Self.isNull(node) else { return Fields(path: path, values: [:]) }
        guard case .mapping(let mapping, _) = node else {
            fail(path, "\(path.isEmpty ? "the document must be" : "must be") a mapping of \(known.joined(separator: ", ")), not \(Self.kind(node))")
            return nil
        }
        var values: [String: YAMLNode] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                fail(path, "keys must be plain names, not \(Self.kind(keyNode))")
                continue
            }
            guard known.contains(key.text) else {
                fail(Self.join(path, key.text), "unknown key")
                continue
            }
            values[key.text] = value
        }
        return Fields(path: path, values: values)
    }

    /// The elements of a list; nil when absent or null. Nil with an error when not a list.
    func list(_ fields: Fields, _ key: String) -> [YAMLNode]? {
        guard let node = fields[key] else { return nil }
        guard case .sequence(let items, _) = node else {
            fail(fields.path(key), "must be a list, not \(Self.kind(node))")
            return nil
        }
        return items
    }

    /// A scalar's text; nil when absent or null. Nil with an error for a list or mapping.
    func text(_ node: YAMLNode?, at path: String) -> String? {
        guard let node, !Self.isNull(node) else { return nil }
        guard case .scalar(let scalar) = node else {
            fail(path, "must be a single value, not \(Self.kind(node))")
            return nil
        }
        return scalar.text
    }

    /// A value parsed from a scalar, or `fallback` when absent or invalid (then with an error).
    func value<T>(
        _ fields: Fields, _ key: String, default fallback: T,
        _ parse: (String) throws(ConfigError) -> T
    ) -> T {
        required(fields, key, parse, reportMissing: false) ?? fallback
    }

    /// A value that must be present: nil, with `missing` or the parser's error, otherwise.
    func required<T>(
        _ fields: Fields, _ key: String,
        _ parse: (String) throws(ConfigError) -> T, reportMissing: Bool = true
    ) -> T? {
        let path = fields.path(key)
        guard let text = text(fields[key], at: path) else {
            if reportMissing, fields[key].map(Self.isNull) ?? true { fail(path, "missing") }
            return nil
        }
        do {
            return try parse(text)
        } catch {
            fail(path, error.message)
            return nil
        }
    }

    /// A non-empty string.
    func string(_ fields: Fields, _ key: String, default fallback: String) -> String {
        value(fields, key, default: fallback, Self.nonEmpty)
    }

    /// An integer no smaller than `minimum`; `hint` explains the range in the error.
    func int(_ fields: Fields, _ key: String, default fallback: Int, minimum: Int, hint: String) -> Int {
        value(fields, key, default: fallback) { text throws(ConfigError) in
            guard let number = Int(text) else {
                throw ConfigError(path: "", message: "\(shown(text)) is not an integer")
            }
            guard number >= minimum else {
                throw ConfigError(path: "", message: "\(number) is less than \(minimum) (\(hint))")
            }
            return number
        }
    }

    /// A duration such as `250ms`, `5s`, `2m`, `1h` or `0`.
    func duration(_ fields: Fields, _ key: String, default fallback: Duration) -> Duration {
        value(fields, key, default: fallback) { text throws(ConfigError) in
            guard let duration = Duration(configString: text) else {
                throw ConfigError(path: "", message: "\(shown(text)) is not a duration (use 250ms, 5s, 2m, 1h)")
            }
            return duration
        }
    }

    /// A size such as `64k`, `256m`, `1g` or plain bytes.
    func size(_ fields: Fields, _ key: String, default fallback: ByteSize) -> ByteSize {
        value(fields, key, default: fallback) { text throws(ConfigError) in
            guard let size = ByteSize(parsing: text) else {
                throw ConfigError(path: "", message: "\(shown(text)) is not a size (use 64k, 256m, 1g)")
            }
            return size
        }
    }

    /// One of an enumeration's raw values, spelled exactly.
    func choice<E: RawRepresentable<String> & CaseIterable>(
        _ fields: Fields, _ key: String, default fallback: E
    ) -> E {
        value(fields, key, default: fallback) { text throws(ConfigError) in
            guard let choice = E(rawValue: text) else {
                let names = E.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigError(path: "", message: "\(shown(text)) is not one of \(names)")
            }
            return choice
        }
    }

    /// A list of scalars as strings (numbers and booleans keep their text); nil when absent.
    func strings(_ fields: Fields, _ key: String) -> [String]? {
        guard let nodes = list(fields, key) else { return nil }
        return nodes.enumerated().compactMap { index, node in
            let path = "\(fields.path(key))[\(index)]"
            guard let text = text(node, at: path) else {
                if Self.isNull(node) { fail(path, "missing value (write \"\" for an empty string)") }
                return nil
            }
            return text
        }
    }

    static func nonEmpty(_ text: String) throws(ConfigError) -> String {
        guard !text.isEmpty else { throw ConfigError(path: "", message: "must not be empty") }
        return text
    }

    /// `a.b`, or just `b` at the top.
    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// YAML's null: an empty value, `~` or `null` written plainly (a quoted "null" is a string).
    static func isNull(_ node: YAMLNode) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.isNull
    }

    private static func kind(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let scalar): "the value \(shown(scalar.text))"
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}

/// The known keys of one mapping with their (non-null) values, and the mapping's path.
struct Fields {
    let path: String
    let values: [String: YAMLNode]

    /// The value of `key`, nil when absent or null.
    subscript(key: String) -> YAMLNode? {
        values[key].flatMap { ConfigDecoder.isNull($0) ? nil : $0 }
    }

    /// The full path of `key`, e.g. `services[0].ready` + `interval`.
    func path(_ key: String) -> String {
        ConfigDecoder.join(path, key)
    }
}
