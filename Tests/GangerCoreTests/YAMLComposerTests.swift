import Testing
@testable import GangerCore

/// The document's tree in a compact form: plain scalars bare, `'single'`, `"double"`,
/// `|literal|`, `>folded>` (newlines as `\n`), `[a, b]`, `{k: v}`; `nil` for no document.
private func shape(_ node: YAMLNode?) -> String {
    guard let node else { return "nil" }
    switch node {
    case .scalar(let scalar):
        let text = scalar.text.replacing("\n", with: "\\n")
        switch scalar.style {
        case .plain: return text
        case .singleQuoted: return "'\(text)'"
        case .doubleQuoted: return "\"\(text)\""
        case .literal: return "|\(text)|"
        case .folded: return ">\(text)>"
        }
    case .sequence(let items, _):
        return "[" + items.map(shape).joined(separator: ", ") + "]"
    case .mapping(let pairs, _):
        return "{" + pairs.map { "\(shape($0.key)): \(shape($0.value))" }.joined(separator: ", ") + "}"
    }
}

private func composed(_ yaml: String) throws -> String {
    shape(try YAMLComposer.compose(yaml))
}

/// The composer's error message for `yaml`, nil (with a recorded issue) when it composes.
private func failure(_ yaml: String, maxNodes: Int = YAMLComposer.defaultMaxNodes) -> String? {
    failure { () throws(ConfigError) in _ = try YAMLComposer.compose(yaml, maxNodes: maxNodes) }
}

private func failure(_ body: () throws(ConfigError) -> Void) -> String? {
    do {
        try body()
        Issue.record("composed, but an error was expected")
        return nil
    } catch {
        #expect(error.path == "")
        return error.message
    }
}

/// The value at `key` of a top-level mapping.
private func value(_ node: YAMLNode?, _ key: String) -> YAMLNode? {
    guard case .mapping(let pairs, _)? = node else { return nil }
    return pairs.first { if case .scalar(let s) = $0.key { s.text == key } else { false } }?.value
}

@Suite struct YAMLComposerTests {
    @Test func blockMappingsAndSequences_nestInDocumentOrder() throws {
        #expect(try composed("""
            b:
              z: [1, 2]
              a:
                - x
                - {d: e}
                -
                  - deep
            a: last
            """) == "{b: {z: [1, 2], a: [x, {d: e}, [deep]]}, a: last}")
    }

    @Test func marks_areOneBasedLineAndColumn() throws {
        let root = try YAMLComposer.compose("top:\n  key: [one, two]\n")
        #expect(root?.mark == YAMLMark(line: 1, column: 1))
        let list = value(value(root, "top"), "key")
        #expect(list?.mark == YAMLMark(line: 2, column: 8))
        guard case .sequence(let items, _)? = list else { Issue.record("not a list"); return }
        #expect(items.map(\.mark) == [YAMLMark(line: 2, column: 9), YAMLMark(line: 2, column: 14)])
    }

    @Test func flowStyle_andJSON_composeLikeBlockStyle() throws {
        #expect(try composed("{a: [1, {b: c}], 'd': \"e\", f: []}") == "{a: [1, {b: c}], 'd': \"e\", f: []}")
        #expect(try composed(#"{"n": [true, null, 1.5e3], "s": "x\ty"}"#) == "{\"n\": [true, null, 1.5e3], \"s\": \"x\ty\"}")
    }

    @Test func scalarStyles_keepTheirStyleAndUnescapedText() throws {
        let root = try YAMLComposer.compose("""
            plain: a b
            single: 'it''s'
            double: "tab\\there \\u00e9 nul\\0end"
            literal: |
              line one
               indented
            folded: >
              folded
              together

              paragraph
            stripped: |-
              no newline
            """)
        func scalar(_ key: String) -> YAMLScalar? {
            if case .scalar(let s)? = value(root, key) { s } else { nil }
        }
        #expect(scalar("plain") == YAMLScalar(text: "a b", style: .plain, mark: YAMLMark(line: 1, column: 8)))
        #expect(scalar("single")?.text == "it's" && scalar("single")?.style == .singleQuoted)
        #expect(scalar("double")?.text == "tab\there é nul\u{0}end" && scalar("double")?.style == .doubleQuoted)
        #expect(scalar("literal")?.text == "line one\n indented\n" && scalar("literal")?.style == .literal)
        #expect(scalar("folded")?.text == "folded together\nparagraph\n" && scalar("folded")?.style == .folded)
        #expect(scalar("stripped")?.text == "no newline")
    }

    @Test func explicitTags_areKept_andDecideTheType() throws {
        let root = try YAMLComposer.compose("a: !!str null\nb: !!int \"1\"\nc: !local x\n")
        guard case .scalar(let a)? = value(root, "a"), case .scalar(let b)? = value(root, "b"),
              case .scalar(let c)? = value(root, "c") else { Issue.record("not scalars"); return }
        #expect(a.tag == "tag:yaml.org,2002:str" && !a.isNull && a.resolved == .str)
        #expect(b.resolved == .int)
        #expect(c.tag == "!local" && c.resolved == .str)
    }

    @Test func aliases_takeTheAnchoredNode_andALaterAnchorReplacesAnEarlier() throws {
        #expect(try composed("""
            base: &b {x: 1, y: [2]}
            copy: *b
            list: [&s str, *s]
            again: &s other
            last: *s
            """) == "{base: {x: 1, y: [2]}, copy: {x: 1, y: [2]}, list: [str, str], again: other, last: other}")
    }

    @Test func undefinedAlias_isAnErrorAtTheAlias() {
        #expect(failure("a: 1\nb: *nope\n")
            == "not valid YAML: line 2, column 4: found undefined alias *nope (an alias must follow its &nope)")
        // A node cannot contain itself: its anchor counts only once the node is complete.
        #expect(failure("a: &x [1, *x]\n")
            == "not valid YAML: line 1, column 11: found undefined alias *x (an alias must follow its &x)")
    }

    @Test func mergeKey_bringsTheKeysTheMappingDoesNotSetItself() throws {
        #expect(try composed("""
            base: &base {image: a, port: 1}
            svc:
              name: s
              <<: *base
              port: 2
            """) == "{base: {image: a, port: 1}, svc: {name: s, image: a, port: 2}}")
        // From a list, an earlier mapping wins over a later one.
        #expect(try composed("""
            one: &one {a: 1, b: 1}
            two: &two {b: 2, c: 2}
            m: {<<: [*one, *two], c: 3}
            """) == "{one: {a: 1, b: 1}, two: {b: 2, c: 2}, m: {a: 1, b: 1, c: 3}}")
        // Quoted, `<<` is an ordinary key (which the config decoder reports as unknown).
        #expect(try composed("m: {'<<': {a: 1}}") == "{m: {'<<': {a: 1}}}")
    }

    @Test func mergeKey_ofAScalar_orTwice_isAnError() {
        #expect(failure("m:\n  <<: 1\n")
            == "not valid YAML: line 2, column 3: a merge key (<<) takes a mapping or a list of mappings, such as <<: *defaults")
        #expect(failure("a: &a {x: 1}\nm: {<<: [*a, [1]]}\n")
            == "not valid YAML: line 2, column 5: a merge key (<<) takes a mapping or a list of mappings, such as <<: *defaults")
        #expect(failure("a: &a {x: 1}\nm:\n  <<: *a\n  <<: *a\n")
            == "not valid YAML: the mapping at line 3 has a key twice: <<")
    }

    @Test func duplicateKeys_areAnError_comparedByTextAndType() throws {
        #expect(failure("b: 1\na: 2\nb: 3\na: 4\nc: 5\n") == "not valid YAML: the mapping at line 1 has a key twice: a, b")
        #expect(failure("x:\n  - {k: 1, \"k\": 2}\n") == "not valid YAML: the mapping at line 2 has a key twice: k")
        // `1` is an int, `"1"` a string: two keys, as in every YAML 1.1 loader.
        #expect(try composed("{1: a, \"1\": b}") == "{1: a, \"1\": b}")
    }

    @Test func syntaxErrors_haveLineColumnAndContext() {
        #expect(failure("services: [unclosed\n")
            == "not valid YAML: line 2, column 1: did not find expected ',' or ']' (while parsing a flow sequence at line 1)")
        #expect(failure("a:\n\tb: 1\n")
            == "not valid YAML: line 2, column 1: found character that cannot start any token (while scanning for the next token at line 2)")
        #expect(failure("a: b: c\n") == "not valid YAML: line 1, column 5: mapping values are not allowed in this context")
        #expect(failure("a: 'open\n")
            == "not valid YAML: line 2, column 1: found unexpected end of stream (while scanning a quoted scalar at line 1)")
    }

    @Test func secondDocument_isAnError_butOneMarkedDocumentIsFine() throws {
        #expect(failure("a: 1\n---\nb: 2\n")
            == "not valid YAML: line 2, column 1: a second document starts here; a configuration is a single document")
        #expect(try composed("---\na: 1\n...\n") == "{a: 1}")
        #expect(try composed("%YAML 1.1\n---\na: 1\n") == "{a: 1}")
    }

    @Test func emptyInput_hasNoDocument_butAnEmptyDocumentIsNull() throws {
        #expect(try YAMLComposer.compose("") == nil)
        #expect(try YAMLComposer.compose("# only a comment\n\n") == nil)
        #expect(try YAMLComposer.compose(bytes: []) == nil)
        guard case .scalar(let empty)? = try YAMLComposer.compose("---\n") else { Issue.record("not a scalar"); return }
        #expect(empty.text == "" && empty.isNull)
    }

    @Test func aliasExpansion_isCountedAndBounded() {
        // map, a, [x, x] (3, the anchor's size), b, [ *a, *a ] = 1 + 1 + 3 + 1 + 1 + 2 × 3 = 13.
        let yaml = "a: &a [x, x]\nb: [*a, *a]\n"
        #expect(throws: Never.self) { _ = try YAMLComposer.compose(yaml, maxNodes: 13) }
        #expect(failure(yaml, maxNodes: 12)
            == "not valid YAML: line 2, column 9: more than 12 nodes with every alias expanded (aliases nested in aliases?)")
    }

    @Test func billionLaughs_failsFast() {
        var yaml = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            yaml += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let start = ContinuousClock.now
        // Levels 0-4 expand to 123,461 nodes; l5 adds 111,111 per *l4, so its 8th alias crosses 1,000,000.
        #expect(failure(yaml) == "not valid YAML: line 6, column 45: more than 1000000 nodes with every alias expanded "
            + "(aliases nested in aliases?)")
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func deepNesting_isRefusedBeforeTheStackIs() throws {
        let depth = YAMLComposer.maxDepth
        #expect(throws: Never.self) {
            _ = try YAMLComposer.compose(String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        }
        #expect(failure(String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1))
            == "not valid YAML: line 1, column \(depth + 1): nested more than \(depth) levels deep")
    }

    @Test func depthBuiltThroughAliases_isBoundedLikeWrittenDepth() throws {
        // The root mapping is level 1; `a` adds `anchored` levels; `b` puts `around` levels
        // around *a: 1 + around + anchored levels once expanded.
        func document(anchored: Int, around: Int) -> String {
            "a: &a " + String(repeating: "[", count: anchored) + String(repeating: "]", count: anchored) + "\n"
                + "b: " + String(repeating: "[", count: around) + "*a" + String(repeating: "]", count: around) + "\n"
        }
        let depth = YAMLComposer.maxDepth
        #expect(throws: Never.self) { _ = try YAMLComposer.compose(document(anchored: 127, around: depth - 128)) }
        #expect(failure(document(anchored: 127, around: depth - 127))
            == "not valid YAML: line 2, column \(4 + depth - 127): nested more than \(depth) levels deep (with *a expanded)")
        // Through a chain of anchors, each well below the bound on its own: b is 200 levels high.
        let chain = "a: &a " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
            + "b: &b " + String(repeating: "[", count: 100) + "*a" + String(repeating: "]", count: 100) + "\n"
            + "c: " + String(repeating: "[", count: 60) + "*b" + String(repeating: "]", count: 60) + "\n"
        #expect(failure(chain) == "not valid YAML: line 3, column 64: nested more than \(depth) levels deep (with *b expanded)")
    }

    @Test func nonUTF8Bytes_andControlCharacters_areReaderErrorsWithTheirPlace() {
        let bad: [UInt8] = Array("a: 1\nb: é".utf8) + [0xFF, 0x0A]
        #expect(failure { () throws(ConfigError) in _ = try YAMLComposer.compose(bytes: bad) }
            == "not valid YAML: line 2, column 5: invalid leading UTF-8 octet (0xFF)")
        #expect(failure("a: x\u{01}\n") == "not valid YAML: line 1, column 5: control characters are not allowed (0x01)")
    }
}
