/// `${NAME}` substitution in config values.
///
/// - `${NAME}` is replaced by the environment variable `NAME` (`[A-Za-z_][A-Za-z0-9_]*`). An unset variable is a
///   problem, not an empty string: an empty password would only show up as a failing camera much later. A
///   variable set to the empty string is used as it is.
/// - `$${` is a literal `${` (`$${NAME}` stays `${NAME}`). A `$` not followed by `{` is kept as it is.
/// - Substitution happens on parsed scalar values, never on the YAML text, so a value containing `:`, `#` or a
///   newline cannot change the document's structure, and line numbers stay those of the file.
/// - Keys are not interpolated.
public enum Interpolation {
    /// Why a value could not be interpolated; each becomes one config problem.
    public enum Failure: Equatable, Sendable, CustomStringConvertible {
        case unset(String)
        case badName(String)
        case unterminated

        public var description: String {
            switch self {
            case .unset(let name): "environment variable \(name) is not set"
            case .badName(let name): "\"${\(name)}\" is not a valid environment variable name"
            case .unterminated: "\"${\" without a closing \"}\" (write \"$${\" for a literal \"${\")"
            }
        }
    }

    /// `value` with every `${NAME}` replaced from `environment`, and every failure found (all of them, not the
    /// first only). With failures the returned string is not meant to be used.
    public static func expand(_ value: String, environment: [String: String]) -> (String, [Failure]) {
        guard value.contains("$") else { return (value, []) }
        let chars = Array(value)
        var out = ""
        var failures: [Failure] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "$", i + 2 < chars.count, chars[i + 1] == "$", chars[i + 2] == "{" {
                out += "${"
                i += 3
            } else if c == "$", i + 1 < chars.count, chars[i + 1] == "{" {
                guard let close = chars[(i + 2)...].firstIndex(of: "}") else {
                    failures.append(.unterminated)
                    break
                }
                let name = String(chars[(i + 2)..<close])
                if !isValidName(name) {
                    failures.append(.badName(name))
                } else if let replacement = environment[name] {
                    out += replacement
                } else {
                    failures.append(.unset(name))
                }
                i = close + 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return (out, failures)
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetterOrUnderscore else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetterOrUnderscore || ("0"..."9").contains($0) }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetterOrUnderscore: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || self == "_"
    }
}
