/// SeENet's Semantic Enhancement Module (head.seem.<level>, SeENet §3.2; docs/blocks.md) on a lateral feature
/// before its FAM: four branches, each 1×1 to dim/2, [SeEM-FS: a dense depthwise r×r, r = the dilation rounded
/// up to odd], depthwise 3×3 with dilation (1, 2, 4, 8), 1×1 (all BN + ReLU); the branches and the input meet in
/// one concat (`head.seem.<level>.concat`, the lateral's fpn_in writes its first slice), projected back to dim by
/// a 1×1 + BN, added to the input and ReLU'd (tools/sfnet/blocks_seenet.py).
struct SeEM {
    static let dilations = [1, 2, 4, 8]

    struct Branch {
        let reduce: ConvSpec
        let local: ConvSpec?
        let atrous: ConvSpec
        let fuse: ConvSpec
        var parameters: [ConvSpec] { [reduce] + (local.map { [$0] } ?? []) + [atrous, fuse] }
    }

    let level: Int
    let dim: Int, reduced: Int
    let branches: [Branch]
    let project: ConvSpec

    /// The dense kernel before an atrous conv of dilation d whose taps then cover every input (SeENet eq. 2).
    static func fullSamplingKernel(_ d: Int) -> Int { d % 2 == 1 ? d : d + 1 }

    init(level i: Int, dim f: Int, variant: DecoderBlocks.SemanticEnhancement) {
        let p = "head.seem.\(i)"
        level = i
        dim = f
        reduced = f / 2
        let r = f / 2
        func convBN(_ name: String, _ cin: Int, _ cout: Int, kernel: Int = 1, dilation: Int = 1, groups: Int = 1) -> ConvSpec {
            ConvSpec(name: "\(name).0", inChannels: cin, outChannels: cout, kernel: kernel, padding: dilation * (kernel - 1) / 2,
                     dilation: dilation, batchNorm: "\(name).1", relu: true, groups: groups)
        }
        branches = Self.dilations.enumerated().map { k, d in
            let b = "\(p).branches.\(k)"
            let local = Self.fullSamplingKernel(d)
            return Branch(reduce: convBN("\(b).reduce", f, r),
                          local: variant == .fullSampling && local > 1 ? convBN("\(b).local", r, r, kernel: local, groups: r) : nil,
                          atrous: convBN("\(b).atrous", r, r, kernel: 3, dilation: d, groups: r),
                          fuse: convBN("\(b).fuse", r, r))
        }
        project = ConvSpec(name: "\(p).project.0", inChannels: f + Self.dilations.count * r, outChannels: f, kernel: 1,
                           batchNorm: "\(p).project.1", relu: true)
    }

    var parameters: [ConvSpec] { branches.flatMap(\.parameters) + [project] }
}

extension Graph {
    /// The lateral `fpnIn(feature)` enhanced: returns relu(x + project([x, branches(x)])), a value of its own group.
    mutating func seem(_ m: SeEM, lateral fpnIn: ConvSpec, feature: Int) -> Int {
        let f = m.dim, r = m.reduced
        let cat = addConcat("head.seem.\(m.level).concat", channels: f + m.branches.count * r)
        let x = conv(fpnIn, feature, into: slice(cat, 0..<f))
        for (k, b) in m.branches.enumerated() {
            var t = conv(b.reduce, x)
            if let local = b.local { t = conv(local, t) }
            t = conv(b.atrous, t)
            _ = conv(b.fuse, t, into: slice(cat, (f + k * r)..<(f + (k + 1) * r)))
        }
        return conv(m.project, whole(cat), residual: x)
    }
}
