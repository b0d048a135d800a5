/// Makes untrusted text (tensor names, paths, URLs, metadata values, FFmpeg's own text) safe to put in a
/// one-line message on a terminal: every error description in segstream goes through `escaped(_:limit:)`.
///
/// - Control characters (C0, DEL, C1), the Unicode line/paragraph separators and the bidirectional overrides
///   are shown as escapes (`\n`, `\r`, `\t`, `\x1b`, `\u{202e}`), so a name cannot start a second
///   `segstream: …` line, move the cursor or recolour the terminal.
/// - The result is at most `limit` characters of escaped text plus `…` and how much was cut, so a
///   100 000-character name cannot make a 100 KB line.
public enum MessageText {
    /// The default length for one untrusted field (a name, a path).
    public static let fieldLimit = 200

    public static func escaped(_ text: String, limit: Int = fieldLimit) -> String {
        var out = ""
        var count = 0          // characters of escaped output so far
        var consumed = 0       // scalars of `text` represented in `out`
        let scalars = text.unicodeScalars
        for s in scalars {
            let piece = escape(s)
            if count + piece.count > limit {
                let rest = scalars.count - consumed
                return out + "… (\(rest) more characters)"
            }
            out += piece
            count += piece.count
            consumed += 1
        }
        return out
    }

    private static func escape(_ s: Unicode.Scalar) -> String {
        switch s.value {
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x00..<0x20, 0x7F: return "\\x" + hex(s.value, width: 2)
        case 0x80..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C:
            return "\\u{" + hex(s.value, width: 4) + "}"
        default: return String(s)
        }
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }
}
