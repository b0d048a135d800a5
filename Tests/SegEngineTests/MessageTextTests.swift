import Testing
@testable import SegEngine

@Suite("MessageText: untrusted text in one-line messages")
struct MessageTextTests {
    @Test("control characters, DEL, C1 and bidi overrides become visible escapes")
    func escapes() {
        #expect(MessageText.escaped("a\nb") == "a\\nb")
        #expect(MessageText.escaped("\r\t") == "\\r\\t")
        #expect(MessageText.escaped("\u{1b}[31mred") == "\\x1b[31mred")
        #expect(MessageText.escaped("\u{7f}\u{0}") == "\\x7f\\x00")
        #expect(MessageText.escaped("\u{9b}") == "\\u{009b}")
        #expect(MessageText.escaped("abc\u{202e}txt.exe") == "abc\\u{202e}txt.exe")
        #expect(MessageText.escaped("straße/ü 日本") == "straße/ü 日本", "printable Unicode is kept")
    }

    @Test("long text is cut at the limit with an ellipsis and a count")
    func shortens() {
        let long = String(repeating: "x", count: 100_000)
        let e = MessageText.escaped(long)
        #expect(e.hasPrefix(String(repeating: "x", count: 200) + "…"))
        #expect(e.count < 240)
        #expect(e.hasSuffix("(99800 more characters)"))
        #expect(MessageText.escaped(String(repeating: "y", count: 200)) == String(repeating: "y", count: 200))
        // An escape is never split: 199 letters then a newline (2 characters escaped) does not fit in 200.
        let edge = MessageText.escaped(String(repeating: "z", count: 199) + "\n")
        #expect(edge == String(repeating: "z", count: 199) + "… (1 more characters)")
    }

    @Test("model file errors escape the names that come from the file")
    func modelFileErrors() {
        let name = "conv.weight\nsegstream: forged\u{1b}[2J" + String(repeating: "n", count: 100_000)
        for error in [ModelFileError.unexpectedTensor(name), .unknownDType(name: name, dtype: "F\n32"),
                      .invalidMetadata(key: name, value: name, reason: "bad"), .cannotOpen(path: name, reason: "x")] {
            let d = error.description
            #expect(!d.contains("\n") && !d.contains("\u{1b}"), "\(d.prefix(80))")
            #expect(d.count < 1000)
        }
    }
}
