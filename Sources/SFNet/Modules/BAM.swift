/// SeENet's Boundary Attention Module (head.bam, SeENet §3.3; docs/blocks.md): the attention A = 1 − σ(1×1(P))
/// over the fused decoder feature P (the fuse concat's pyramid slices) gates B, the shallowest backbone feature
/// the head gets (it has the fusion resolution); B̂ = A ⊙ B goes through 1×1 (to dim) and 3×3 convs (BN + ReLU)
/// into one more slice of the fuse concat, which conv_last.0 reads (tools/sfnet/blocks_seenet.py).
struct BAM {
    let attention: ConvSpec, reduce: ConvSpec, fuse: ConvSpec
    let dim: Int

    init(fusedChannels: Int, shallowChannels: Int, dim f: Int) {
        dim = f
        attention = ConvSpec(name: "head.bam.attention", inChannels: fusedChannels, outChannels: shallowChannels, kernel: 1,
                             hasBias: true)
        reduce = ConvSpec(name: "head.bam.reduce.0", inChannels: shallowChannels, outChannels: f, kernel: 1,
                          batchNorm: "head.bam.reduce.1", relu: true)
        fuse = ConvSpec(name: "head.bam.fuse.0", inChannels: f, outChannels: f, kernel: 3, padding: 1,
                        batchNorm: "head.bam.fuse.1", relu: true)
    }

    var parameters: [ConvSpec] { [attention, reduce, fuse] }
}

extension Graph {
    /// Writes the boundary features into `dest` (a slice of the fuse concat) from `fused` (its pyramid slices)
    /// and the shallow feature.
    mutating func bam(_ m: BAM, fused: Int, shallow: Int, into dest: Int) {
        let a = conv(m.attention, fused)
        let gated = boundaryGate("head.bam.gate", attention: a, feature: shallow)
        _ = conv(m.fuse, conv(m.reduce, gated), into: dest)
    }
}
