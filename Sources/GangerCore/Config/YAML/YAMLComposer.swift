import CYAML

/// Builds a `YAMLNode` tree from one YAML document, for the config decoder.
///
/// This is not a YAML parser. libyaml (the reference C implementation, the same one Yams wraps)
/// reads, scans and parses; this type only drives `yaml_parser_parse` and composes its events
/// into nodes: it replaces aliases by their anchored node, applies merge keys (`<<`), rejects
/// duplicate keys and second documents, and turns libyaml's errors into a `ConfigError` with a
/// line and column. Ganger used Yams for this until Yams' import of the full Foundation was
/// found to put ICU's 34 MB of data into the static binary (docs/container.md, BENCH.md); the
/// config needs nodes, not Foundation.
///
/// An alias is the anchored node's value (copy-on-write: a thousand aliases of one mapping share
/// its storage), but whoever walks the tree visits every copy. So the nodes the tree would have
/// with every alias expanded are counted, and a document above `maxNodes` is refused: a
/// "billion laughs" file fails in microseconds instead of hanging `ganger check`.
struct YAMLComposer: ~Copyable {
    /// Far above any real configuration (a service is about 40 nodes), far below a stall.
    static let defaultMaxNodes = 1_000_000
    /// Nesting deeper than this is refused: composing recurses once per level, and a config
    /// is about five levels deep.
    static let maxDepth = 256

    private let parser: UnsafeMutablePointer<yaml_parser_t>
    /// The document's bytes, for turning a reader error's byte offset into a line and column.
    private let input: UnsafeBufferPointer<UInt8>
    private let maxNodes: Int
    /// Every anchor seen so far (a later `&name` replaces an earlier one, as YAML says), with
    /// the expanded size of its node and its height (collection levels, 0 for a scalar).
    private var anchors: [String: (node: YAMLNode, expanded: Int, height: Int)] = [:]
    private var expandedNodes = 0
    /// Collections open around the node being composed.
    private var depth = 0
    /// The deepest level reached inside the collection being composed, aliases expanded:
    /// an alias is as deep as its anchored node wherever it is placed.
    private var deepest = 0

    /// The document in `text`, or nil when it holds none (empty, or only comments).
    /// - Throws: `ConfigError` with an empty path and a message starting `not valid YAML:`.
    static func compose(_ text: String, maxNodes: Int = defaultMaxNodes) throws(ConfigError) -> YAMLNode? {
        var text = text
        return try text.withUTF8 { compose(buffer: $0, maxNodes: maxNodes) }.get()
    }

    /// The document in `bytes`, which libyaml checks to be UTF-8 (the reader error names the
    /// line and column of the first bad byte).
    static func compose(bytes: [UInt8], maxNodes: Int = defaultMaxNodes) throws(ConfigError) -> YAMLNode? {
        try bytes.withUnsafeBufferPointer { compose(buffer: $0, maxNodes: maxNodes) }.get()
    }

    /// The composer lives inside the caller's `withUTF8`/`withUnsafeBufferPointer`: libyaml
    /// reads `buffer` in place until the parser is deleted, so the buffer must outlive it.
    private static func compose(buffer: UnsafeBufferPointer<UInt8>, maxNodes: Int) -> Result<YAMLNode?, ConfigError> {
        // yaml_parser_set_input_string asserts a non-null pointer; an empty stream has no document.
        guard buffer.count > 0 else { return .success(nil) }
        return Result { () throws(ConfigError) -> YAMLNode? in
            var composer = try YAMLComposer(input: buffer, maxNodes: maxNodes)
            return try composer.document()
        }
    }

    private init(input: UnsafeBufferPointer<UInt8>, maxNodes: Int) throws(ConfigError) {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        guard yaml_parser_initialize(parser) == 1 else {
            parser.deallocate()
            throw Self.failure(nil, "out of memory")
        }
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, input.baseAddress, input.count)
        self.parser = parser
        self.input = input
        self.maxNodes = maxNodes
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    /// The stream's only document, nil for an empty stream.
    private mutating func document() throws(ConfigError) -> YAMLNode? {
        _ = try next()  // STREAM-START
        guard case .documentStart = try next() else { return nil }  // else STREAM-END
        let root = try node(try next())
        _ = try next()  // DOCUMENT-END
        if case .documentStart(let mark) = try next() {
            throw Self.failure(mark, "a second document starts here; a configuration is a single document")
        }
        return root
    }

    /// The node that `event` starts, with everything nested in it.
    private mutating func node(_ event: Event) throws(ConfigError) -> YAMLNode {
        switch event {
        case .alias(let name, let mark):
            guard let anchored = anchors[name] else {
                throw Self.failure(mark, "found undefined alias *\(name) (an alias must follow its &\(name))")
            }
            try count(anchored.expanded, at: mark)
            guard depth + anchored.height <= Self.maxDepth else {
                throw Self.failure(mark, "nested more than \(Self.maxDepth) levels deep (with *\(name) expanded)")
            }
            deepest = max(deepest, depth + anchored.height)
            return anchored.node
        case .scalar(let scalar, let anchor):
            try count(1, at: scalar.mark)
            let node = YAMLNode.scalar(scalar)
            if let anchor { anchors[anchor] = (node, 1, 0) }
            return node
        case .sequenceStart(let anchor, let mark):
            let (before, outer) = (expandedNodes, deepest)
            deepest = depth
            let node = YAMLNode.sequence(try sequence(at: mark), mark)
            if let anchor { anchors[anchor] = (node, expandedNodes - before, deepest - depth) }
            deepest = max(outer, deepest)
            return node
        case .mappingStart(let anchor, let mark):
            let (before, outer) = (expandedNodes, deepest)
            deepest = depth
            let node = YAMLNode.mapping(try mapping(at: mark), mark)
            if let anchor { anchors[anchor] = (node, expandedNodes - before, deepest - depth) }
            deepest = max(outer, deepest)
            return node
        case .streamStart, .streamEnd, .documentStart, .documentEnd, .sequenceEnd, .mappingEnd:
            // libyaml's parser only emits events in the order its grammar allows.
            preconditionFailure("libyaml emitted \(event) where a node belongs")
        }
    }

    /// A sequence's items, up to its SEQUENCE-END.
    private mutating func sequence(at mark: YAMLMark) throws(ConfigError) -> [YAMLNode] {
        try count(1, at: mark)
        try enter(at: mark)
        defer { depth -= 1 }
        var items: [YAMLNode] = []
        while true {
            let event = try next()
            if case .sequenceEnd = event { return items }
            items.append(try node(event))
        }
    }

    /// A mapping's pairs, up to its MAPPING-END, with its merge key applied: the keys of the
    /// merged mappings that the mapping does not set itself, at the place of `<<`.
    private mutating func mapping(at mark: YAMLMark) throws(ConfigError) -> [(key: YAMLNode, value: YAMLNode)] {
        try count(1, at: mark)
        try enter(at: mark)
        defer { depth -= 1 }
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var merge: (at: Int, pairs: [(key: YAMLNode, value: YAMLNode)])?
        while true {
            let event = try next()
            if case .mappingEnd = event { break }
            let key = try node(event)
            let value = try node(try next())
            if case .scalar(let scalar) = key, scalar.resolved == .merge {
                guard merge == nil else { throw Self.keysTwice(["<<"], mapping: mark) }
                merge = (pairs.count, try Self.mergedPairs(value, at: scalar.mark))
            } else {
                pairs.append((key, value))
            }
        }
        try Self.checkUniqueKeys(pairs, mapping: mark)
        guard let merge else { return pairs }
        var seen = Set(pairs.compactMap { KeyIdentity($0.key) })
        let inherited = merge.pairs.filter { pair in KeyIdentity(pair.key).map { seen.insert($0).inserted } ?? true }
        pairs.insert(contentsOf: inherited, at: merge.at)
        return pairs
    }

    /// The pairs a merge key brings: one mapping's, or a list of mappings' where an earlier
    /// mapping wins over a later one (https://yaml.org/type/merge.html).
    private static func mergedPairs(_ value: YAMLNode, at mark: YAMLMark) throws(ConfigError) -> [(key: YAMLNode, value: YAMLNode)] {
        let sources: [YAMLNode]
        if case .sequence(let items, _) = value { sources = items } else { sources = [value] }
        var seen = Set<KeyIdentity>()
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        for source in sources {
            guard case .mapping(let sourcePairs, _) = source else {
                throw failure(mark, "a merge key (<<) takes a mapping or a list of mappings, such as <<: *defaults")
            }
            pairs += sourcePairs.filter { pair in KeyIdentity(pair.key).map { seen.insert($0).inserted } ?? true }
        }
        return pairs
    }

    /// Refuses a mapping that sets a key twice, naming every such key: YAML forbids it, and
    /// silently keeping one of the two values would hide a mistake in the file.
    private static func checkUniqueKeys(_ pairs: [(key: YAMLNode, value: YAMLNode)], mapping mark: YAMLMark) throws(ConfigError) {
        var seen = Set<KeyIdentity>()
        var twice = Set<String>()
        for pair in pairs {
            guard let identity = KeyIdentity(pair.key), !seen.insert(identity).inserted else { continue }
            twice.insert(identity.text)
        }
        guard twice.isEmpty else { throw keysTwice(twice, mapping: mark) }
    }

    private static func keysTwice(_ keys: Set<String>, mapping mark: YAMLMark) -> ConfigError {
        ConfigError(path: "", message: "not valid YAML: the mapping at line \(mark.line) has a key twice: "
            + keys.sorted().joined(separator: ", "))
    }

    /// libyaml's next event, copied out and deleted at once: nothing libyaml allocated outlives
    /// this call, whatever is thrown later.
    private mutating func next() throws(ConfigError) -> Event {
        var event = yaml_event_t()
        // Safe on the zeroed event a failed parse leaves behind, too.
        defer { yaml_event_delete(&event) }
        guard yaml_parser_parse(parser, &event) == 1 else { throw parserError() }
        return Event(event)
    }

    /// libyaml's error as Yams reported it before: `line L, column C: problem (context at line N)`.
    /// A reader error (bad UTF-8, a control character) has a byte offset instead of a mark.
    private func parserError() -> ConfigError {
        let problem = parser.pointee.problem.map { String(cString: $0) } ?? "unknown error"
        switch parser.pointee.error {
        case YAML_MEMORY_ERROR:
            return Self.failure(nil, "out of memory")
        case YAML_READER_ERROR:
            let value = parser.pointee.problem_value
            let shown = value < 0 ? "" : " (0x\(value < 0x10 ? "0" : "")\(String(value, radix: 16, uppercase: true)))"
            return Self.failure(mark(atOffset: parser.pointee.problem_offset), problem + shown)
        default:
            let context = parser.pointee.context.map {
                " (\(String(cString: $0)) at line \(parser.pointee.context_mark.line + 1))"
            } ?? ""
            return Self.failure(YAMLMark(parser.pointee.problem_mark), problem + context)
        }
    }

    /// The line and column of the byte at `offset`: lines counted by `\n`, columns in characters
    /// (UTF-8 lead bytes), as libyaml counts them in its marks.
    private func mark(atOffset offset: Int) -> YAMLMark {
        let before = input.prefix(offset)
        let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let column = before[lineStart...].count { $0 & 0xC0 != 0x80 }
        return YAMLMark(line: before.count { $0 == UInt8(ascii: "\n") } + 1, column: column + 1)
    }

    /// Counts `nodes` more nodes of the expanded tree.
    private mutating func count(_ nodes: Int, at mark: YAMLMark) throws(ConfigError) {
        guard nodes <= maxNodes - expandedNodes else {
            throw Self.failure(mark, "more than \(maxNodes) nodes with every alias expanded (aliases nested in aliases?)")
        }
        expandedNodes += nodes
    }

    /// One more level of nesting; the caller decrements `depth` when it leaves.
    private mutating func enter(at mark: YAMLMark) throws(ConfigError) {
        guard depth < Self.maxDepth else {
            throw Self.failure(mark, "nested more than \(Self.maxDepth) levels deep")
        }
        depth += 1
        deepest = max(deepest, depth)
    }

    static func failure(_ mark: YAMLMark?, _ problem: String) -> ConfigError {
        ConfigError(path: "", message: "not valid YAML: " + (mark.map { "\($0): " } ?? "") + problem)
    }
}

/// A scalar key as YAML compares keys: the same text and the same resolved type (`1` and
/// `"1"` differ, `a` and `"a"` do not). Nil for a collection key, which the config decoder
/// refuses anyway.
private struct KeyIdentity: Hashable {
    let text: String
    let type: YAMLScalar.Resolved

    init?(_ node: YAMLNode) {
        guard case .scalar(let scalar) = node else { return nil }
        text = scalar.text
        type = scalar.resolved
    }
}
