/// Hides credentials in URLs before they reach a log line, a status string, a metric label or a config
/// problem.
///
/// The rules (docs/serve.md, "Credentials"):
/// - **Userinfo.** `user:pass@` becomes `user:***@`. A userinfo without a colon (`TOKEN@host`) may itself be a
///   secret (token-as-user), so it becomes `***@`. The userinfo is what lies between `://` and the *last* `@`
///   before the query (`?`) or fragment (`#`), so a password with an unescaped `/` or `@` (which FFmpeg would not
///   parse either) is hidden whole rather than leaked in part. A candidate with a `/` and no `:` is a path
///   (`http://host/a@b`), not a userinfo, and is kept.
/// - **Query parameters** whose name contains `pass`, `pwd`, `token`, `secret`, `key`, `auth`, `sig`,
///   `credential` or `session` (case-insensitive) keep their name and lose their value: `?password=***`.
///   Erring on the side of hiding: `keyframe=1` becomes `keyframe=***`.
/// - Everything else (scheme, host, port, path, other parameters) is kept: it is what an operator needs to tell
///   sources apart.
public enum Redaction {
    /// The replacement for every hidden value.
    public static let mask = "***"

    /// Query parameter names containing one of these (lowercased) have their values hidden.
    public static let sensitiveParameterFragments = [
        "pass", "pwd", "token", "secret", "key", "auth", "sig", "credential", "session",
    ]

    /// `url` with its credentials hidden. A string without `://` is returned unchanged (a file path or a
    /// device has no credentials).
    public static func redact(url: String) -> String {
        let chars = Array(url)
        guard let schemeEnd = findSchemeSeparator(chars, from: 0) else { return url }
        return String(chars[..<schemeEnd]) + redactAfterScheme(chars[schemeEnd...])
    }

    /// `text` with every URL in it (`scheme://…` up to whitespace or a quote) redacted as ``redact(url:)`` does.
    public static func redactURLs(in text: String) -> String {
        guard text.contains("://") else { return text }
        let chars = Array(text)
        var out = ""
        var index = 0
        var searchFrom = 0
        while let separator = findSchemeSeparator(chars, from: searchFrom) {
            // The URL token: from the scheme's first character to the next whitespace or delimiter.
            var start = separator
            while start > index, isSchemeCharacter(chars[start - 1]) { start -= 1 }
            var end = separator + 3
            while end < chars.count, !isTokenTerminator(chars[end]) { end += 1 }
            if start == separator {  // "://" with no scheme before it: not a URL, keep going
                searchFrom = separator + 3
                continue
            }
            out += String(chars[index..<separator])
            out += redactAfterScheme(chars[separator..<end])
            index = end
            searchFrom = end
        }
        out += String(chars[index...])
        return out
    }

    // MARK: - Implementation

    /// Index of the next `://` at or after `from`.
    private static func findSchemeSeparator(_ chars: [Character], from: Int) -> Int? {
        var i = from
        while i + 2 < chars.count {
            if chars[i] == ":" && chars[i + 1] == "/" && chars[i + 2] == "/" { return i }
            i += 1
        }
        return nil
    }

    private static func isSchemeCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "+" || c == "-" || c == ".")
    }

    private static func isTokenTerminator(_ c: Character) -> Bool {
        c.isWhitespace || c == "\"" || c == "'" || c == "<" || c == ">" || c == "`"
    }

    /// Redacts `://rest` (the slice starts at the `:` of `://`).
    private static func redactAfterScheme(_ slice: ArraySlice<Character>) -> String {
        let body = Array(slice.dropFirst(3))
        // The userinfo ends at the last "@" before the query or fragment.
        let queryStart = body.firstIndex { $0 == "?" || $0 == "#" } ?? body.count
        var result = "://"
        var rest = body[...]
        if let at = body[..<queryStart].lastIndex(of: "@") {
            let userinfo = body[..<at]
            let looksLikePath = userinfo.contains("/") && !userinfo.contains(":")
            if !looksLikePath && !userinfo.isEmpty {  // `udp://@239.0.0.1:1234` (listen) has nothing to hide
                if let colon = userinfo.firstIndex(of: ":") {
                    result += String(userinfo[..<colon]) + ":" + mask
                } else {
                    result += mask
                }
                result += "@"
                rest = body[(at + 1)...]
            }
        }
        return result + redactQuery(String(rest))
    }

    /// Hides the values of sensitive query parameters in `hostAndRest` (`host/path?query#fragment`).
    private static func redactQuery(_ hostAndRest: String) -> String {
        guard let question = hostAndRest.firstIndex(of: "?") else { return hostAndRest }
        let head = hostAndRest[..<question]
        var query = hostAndRest[hostAndRest.index(after: question)...]
        var fragment = ""
        if let hash = query.firstIndex(of: "#") {
            fragment = String(query[hash...])
            query = query[..<hash]
        }
        let parameters = query.split(separator: "&", omittingEmptySubsequences: false).map { parameter -> String in
            guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
            let name = parameter[..<equals].lowercased()
            guard sensitiveParameterFragments.contains(where: { name.contains($0) }) else { return String(parameter) }
            return String(parameter[..<equals]) + "=" + mask
        }
        return head + "?" + parameters.joined(separator: "&") + fragment
    }
}
