import Foundation
import SegEngine

/// Optional decoder blocks from the street-segmentation papers (issue #15; `decoder_blocks` in `__metadata__`,
/// docs/model-format.md). A file without the key has none of them and loads as before.
///
/// JSON in the file: an object with only the enabled blocks, e.g. `{"dfm": true, "ifbf": true, "seem": "s-daspp",
/// "bam": true}`; an unknown key or value is an error (a newer file is refused, never half-understood).
public struct DecoderBlocks: Sendable, Equatable {
    /// FBNet's Dual Feature Modulator (channel and spatial sensors) on the high-level feature (`dfm`).
    public var featureModulator: Bool
    /// IFBFNet's inter-level balanced fusion (learned, normalised W_h and W_l) at every FAM fusion (`ifbf`).
    public var balancedFusion: Bool
    /// SeENet's Semantic Enhancement Module on the shallow features before fusion (`seem`).
    public var semanticEnhancement: SemanticEnhancement?
    /// SeENet's Boundary Attention Module (`bam`).
    public var boundaryAttention: Bool

    /// SeEM's two variants (SeENet §3.2).
    public enum SemanticEnhancement: String, Sendable, CaseIterable {
        /// S-DASPP: four parallel depthwise atrous branches.
        case sdaspp = "s-daspp"
        /// SeEM-FS, the full-sampling variant.
        case fullSampling = "fs"
    }

    public init(featureModulator: Bool = false, balancedFusion: Bool = false,
                semanticEnhancement: SemanticEnhancement? = nil, boundaryAttention: Bool = false) {
        self.featureModulator = featureModulator
        self.balancedFusion = balancedFusion
        self.semanticEnhancement = semanticEnhancement
        self.boundaryAttention = boundaryAttention
    }

    /// No block: the reference SFNet.
    public static let none = DecoderBlocks()
    public var isEmpty: Bool { self == .none }

    /// The blocks' names as in the file, in a fixed order (logs, errors, `--help`).
    public var names: [String] {
        var n: [String] = []
        if featureModulator { n.append("dfm") }
        if balancedFusion { n.append("ifbf") }
        if let s = semanticEnhancement { n.append("seem:" + s.rawValue) }
        if boundaryAttention { n.append("bam") }
        return n
    }

    /// A `decoder_blocks` value: JSON `true`/`false` or a string (decoded strictly: `1` is not `true`).
    private enum Field: Decodable {
        case flag(Bool), text(String)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .flag(b) } else { self = .text(try c.decode(String.self)) }
        }
    }

    /// Parses the `decoder_blocks` metadata text.
    init(metadataText text: String) throws {
        func bad(_ why: String) -> ModelFileError { .invalidMetadata(key: "decoder_blocks", value: text, reason: why) }
        guard let fields = try? JSONDecoder().decode([String: Field].self, from: Data(text.utf8)) else {
            throw bad("expected an object of true/false and strings, such as {\"dfm\": true, \"seem\": \"s-daspp\"}")
        }
        self.init()
        for (key, field) in fields.sorted(by: { $0.key < $1.key }) {
            func flag() throws -> Bool {
                guard case .flag(let b) = field else { throw bad("\(key) must be true or false") }
                return b
            }
            switch key {
            case "dfm": featureModulator = try flag()
            case "ifbf": balancedFusion = try flag()
            case "bam": boundaryAttention = try flag()
            case "seem":
                guard case .text(let s) = field, let variant = SemanticEnhancement(rawValue: s) else {
                    throw bad("seem must be \"s-daspp\" or \"fs\"")
                }
                semanticEnhancement = variant
            default: throw bad("unknown block \"\(key)\" (this engine knows dfm, ifbf, seem, bam)")
            }
        }
    }

    /// The `decoder_blocks` JSON for a file; nil when no block is on (the key is then left out).
    var metadataValue: String? {
        guard !isEmpty else { return nil }
        var parts: [String] = []
        if balancedFusion { parts.append("\"ifbf\": true") }
        if featureModulator { parts.append("\"dfm\": true") }
        if boundaryAttention { parts.append("\"bam\": true") }
        if let s = semanticEnhancement { parts.append("\"seem\": \"\(s.rawValue)\"") }
        return "{" + parts.sorted().joined(separator: ", ") + "}"
    }
}
