/// `serve --shard K/N`: this daemon is shard K of N, and takes the sources that rendezvous hashing assigns to K
/// (docs/scaling.md).
///
/// Rendezvous (highest-random-weight) hashing, Thaler & Ravishankar 1998: a source goes to the shard k, of
/// 1…N, with the highest weight(name, k). Every daemon computes the same answer from the name alone, with no
/// coordination; and when N grows to N+1, a source moves only if the new shard outweighs its old one, which
/// happens for about 1/(N+1) of the sources (they all move to the new shard); no source moves between old shards.
/// The weight is a fixed function of the bytes (FNV-1a 64, then the SplitMix64 finaliser to spread FNV's weak
/// high bits), not Swift's `Hasher`, which is seeded per process and would put a source on a different shard in
/// every daemon.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 1-based.
    public let index: Int
    public let count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, (1...count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// `K/N` with 1 ≤ K ≤ N ≤ 1000; nil otherwise.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let k = Int(parts[0]), let n = Int(parts[1]), n <= 1000 else { return nil }
        self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// Whether `name` belongs to this shard.
    public func owns(_ name: String) -> Bool { Self.owner(of: name, count: count) == index }

    /// The shard (1…count) that owns `name`: the highest weight, ties (never seen with 64-bit weights) to the lower k.
    public static func owner(of name: String, count: Int) -> Int {
        var best = 1
        var bestWeight = weight(name, 1)
        for k in stride(from: 2, through: count, by: 1) {
            let w = weight(name, k)
            if w > bestWeight { best = k; bestWeight = w }
        }
        return best
    }

    /// The weight of (name, k): FNV-1a 64 over the name's UTF-8, a 0 byte, and k as 4 little-endian bytes,
    /// finished with SplitMix64's mixer.
    public static func weight(_ name: String, _ k: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        for byte in name.utf8 { add(byte) }
        add(0)
        for shift in stride(from: 0, to: 32, by: 8) { add(UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: k) >> shift)) }
        var z = hash &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ServeConfig {
    /// The configuration of shard `shard`: its sources only (possibly none), and the shard remembered for MQTT's
    /// client id and availability topic.
    public func sharded(_ shard: Shard) -> ServeConfig {
        var copy = self
        copy.shard = shard
        copy.sources = sources.filter { shard.owns($0.name) }
        return copy
    }
}
