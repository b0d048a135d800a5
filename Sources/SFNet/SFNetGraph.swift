/// The network as one description (docs/engine.md): a list of nodes in execution order over values. The
/// fp32 engine (`SFNetModel`) and the int8 engine (`SFNetInt8Model`) both execute it, op by op; the int8
/// plan (quantization groups) and the quantizer's observation points are read from it; activation buffer
/// lifetimes come from liveness over it (`GraphPlan`).
///
/// A value is a tensor with its own buffer, or a channel slice of a concat buffer: concatenations are
/// producers writing slices of one buffer, never copies.
struct Graph: Sendable {
    enum Op: Sendable {
        /// The network input (fp32 normalised image); not a node.
        case conv(ConvSpec)
        /// 3×3 stride-2 padding-1 max-pool.
        case maxPool
        case adaptiveAveragePool(bins: Int)
        /// Bilinear, align_corners=True, to the output value's size.
        case resize
        /// inputs [high, flow, lat]: lat + warp(high, flow) (the FAM, fused).
        case warpAdd
        /// inputs [high, flow]: warp(high, flow) at the flow's size, keeping high's group (the FAM's warp alone,
        /// where a balanced fusion replaces the add).
        case warp
        /// inputs [x, spatial logits (1 channel, fp32), channel logits (C×1×1, fp32)]: x + (x·σ(spatial))·σ(channel)
        /// (FBNet's Dual Feature Modulator, `Modules/FeatureModulator.swift`).
        case modulate
        /// inputs [high, low, logits from high (2C×1×1, fp32), logits from low (2C×1×1, fp32)]:
        /// 2σ(a_h)·high + 2σ(a_l)·low, a = sum of the logits (IFBFNet's balanced fusion, `Modules/BalancedFusion.swift`).
        case balancedSum
        /// inputs [attention, feature]: feature·(1 − σ(attention)) (SeENet's BAM gate), a value of its own group.
        case boundaryGate
    }

    struct Node: Sendable {
        /// The layer's name (profiles, activation observer).
        let name: String
        let op: Op
        let inputs: [Int]
        /// Added before the ReLU (convs).
        let residual: Int?
        let output: Int
    }

    struct Value: Sendable {
        /// The quantization group this value names, if it starts one (conv outputs, FAM sums, concats'
        /// slices through their concat, the input); nil: it keeps its input's (pools, resizes).
        let group: String?
        let channels: Int
        /// The concat this value is a channel slice of, and where.
        let concat: Int?
        let channelOffset: Int
        /// fp32 in both engines (the input, the flow, the logits); the int8 engine keeps fp32 outputs NHWC.
        let isFloat: Bool
    }

    struct Concat: Sendable {
        let name: String
        let channels: Int
        /// A value of the same height and width (nil: the size of the first conv that writes a slice).
        let like: Int?
        /// Its buffer is taken before this node (where it was declared): declare a concat where its
        /// buffer should start to live, at the latest before its first producer.
        let declaredAt: Int
    }

    /// The convs' specs in state-dict order (module registration order, as PyTorch's): the model file's
    /// tensors and the order they are read and written in.
    private(set) var parameters: [ConvSpec] = []
    private(set) var values: [Value] = []
    private(set) var concats: [Concat] = []
    private(set) var nodes: [Node] = []
    /// The network input value.
    private(set) var input = -1
    /// The logits (numClasses channels, fp32).
    var output = -1
    /// The instance head's output (fp32), when the network has one.
    var instanceOutput: Int? = nil

    // MARK: - Building (blocks are functions that append nodes)

    mutating func register(_ specs: [ConvSpec]) { parameters += specs }

    mutating func addInput(_ channels: Int) -> Int {
        input = addValue(group: "input", channels: channels, isFloat: true)
        return input
    }

    mutating func addValue(group: String?, channels: Int, isFloat: Bool = false) -> Int {
        values.append(Value(group: group, channels: channels, concat: nil, channelOffset: 0, isFloat: isFloat))
        return values.count - 1
    }

    /// A concat buffer of `channels` channels, the size of `like`; returns its index (use `slice`).
    mutating func addConcat(_ name: String, channels: Int, like: Int? = nil) -> Int {
        concats.append(Concat(name: name, channels: channels, like: like, declaredAt: nodes.count))
        return concats.count - 1
    }

    /// Channels `range` of concat `c`, as a value (the whole concat: 0..<channels).
    mutating func slice(_ c: Int, _ range: Range<Int>) -> Int {
        precondition(range.upperBound <= concats[c].channels)
        values.append(Value(group: nil, channels: range.count, concat: c, channelOffset: range.lowerBound, isFloat: false))
        return values.count - 1
    }

    mutating func whole(_ c: Int) -> Int { slice(c, 0..<concats[c].channels) }

    private mutating func add(_ name: String, _ op: Op, _ inputs: [Int], residual: Int? = nil, output: Int) -> Int {
        nodes.append(Node(name: name, op: op, inputs: inputs, residual: residual, output: output))
        return output
    }

    /// `spec(x) (+ residual)`, into `dest` (a slice) or a new value; `float`: an fp32 output (flow, logits).
    mutating func conv(_ spec: ConvSpec, _ x: Int, residual: Int? = nil, into dest: Int? = nil, float: Bool = false) -> Int {
        precondition(values[x].channels == spec.inChannels, "\(spec.name): input has \(values[x].channels) channels")
        let y = dest ?? addValue(group: spec.name, channels: spec.outChannels, isFloat: float)
        precondition(values[y].channels == spec.outChannels)
        return add(spec.name, .conv(spec), [x], residual: residual, output: y)
    }

    mutating func maxPool(_ name: String, _ x: Int) -> Int {
        add(name, .maxPool, [x], output: addValue(group: nil, channels: values[x].channels))
    }

    mutating func adaptiveAveragePool(_ name: String, _ x: Int, bins: Int) -> Int {
        add(name, .adaptiveAveragePool(bins: bins), [x], output: addValue(group: nil, channels: values[x].channels))
    }

    /// Resizes `x` into `dest` (a concat slice: its size is the concat's).
    mutating func resize(_ name: String, _ x: Int, into dest: Int) -> Int {
        precondition(values[dest].concat != nil && values[dest].channels == values[x].channels)
        return add(name, .resize, [x], output: dest)
    }

    /// lat + warp(high, flow): a new value of quantization group `group`.
    mutating func warpAdd(_ name: String, high: Int, flow: Int, lat: Int, group: String) -> Int {
        add(name, .warpAdd, [high, flow, lat], output: addValue(group: group, channels: values[lat].channels))
    }

    /// warp(high, flow): a new value at the flow's size in high's group.
    mutating func warp(_ name: String, high: Int, flow: Int) -> Int {
        add(name, .warp, [high, flow], output: addValue(group: nil, channels: values[high].channels))
    }

    /// x + (x·σ(spatial))·σ(channel): a new value of quantization group `group`.
    mutating func modulate(_ name: String, _ x: Int, spatial: Int, channel: Int, group: String) -> Int {
        precondition(values[spatial].isFloat && values[spatial].channels == 1 && values[channel].isFloat
                     && values[channel].channels == values[x].channels, "\(name): gate logits")
        return add(name, .modulate, [x, spatial, channel], output: addValue(group: group, channels: values[x].channels))
    }

    /// 2σ(a_h)·high + 2σ(a_l)·low, a = logitsHigh + logitsLow: a new value of quantization group `group`.
    mutating func balancedSum(_ name: String, high: Int, low: Int, logitsHigh: Int, logitsLow: Int, group: String) -> Int {
        let c = values[high].channels
        precondition(values[low].channels == c && values[logitsHigh].isFloat && values[logitsLow].isFloat
                     && values[logitsHigh].channels == 2 * c && values[logitsLow].channels == 2 * c, "\(name): inputs")
        return add(name, .balancedSum, [high, low, logitsHigh, logitsLow], output: addValue(group: group, channels: c))
    }

    /// feature·(1 − σ(attention)) (same shapes): a new value of quantization group `name`.
    mutating func boundaryGate(_ name: String, attention: Int, feature: Int) -> Int {
        precondition(values[attention].channels == values[feature].channels)
        return add(name, .boundaryGate, [attention, feature], output: addValue(group: name, channels: values[feature].channels))
    }

    // MARK: - Reading

    /// Every conv, in execution order.
    var convs: [(node: Int, spec: ConvSpec)] {
        nodes.indices.compactMap { i in
            if case .conv(let s) = nodes[i].op { return (i, s) }
            return nil
        }
    }

    /// The quantization group of every value: concat slices share their concat's, pools and resizes keep
    /// their input's, everything else names its own (`Value.group`). nil for fp32 values but the input.
    func quantizationGroups() -> [String?] {
        // Union-find over values; a set is named by its concat if it has one, else by its named member.
        var parent = Array(values.indices)
        func find(_ v: Int) -> Int {
            var v = v
            while parent[v] != v { parent[v] = parent[parent[v]]; v = parent[v] }
            return v
        }
        func union(_ a: Int, _ b: Int) { parent[find(a)] = find(b) }
        var concatMember = [Int?](repeating: nil, count: concats.count)
        for (v, value) in values.enumerated() {
            guard let c = value.concat else { continue }
            if let m = concatMember[c] { union(v, m) } else { concatMember[c] = v }
        }
        for node in nodes {
            switch node.op {
            case .maxPool, .adaptiveAveragePool, .resize, .warp: union(node.output, node.inputs[0])
            case .conv, .warpAdd, .modulate, .balancedSum, .boundaryGate: break
            }
        }
        var name: [Int: String] = [:]
        for (c, m) in concatMember.enumerated() { if let m { name[find(m)] = concats[c].name } }
        for (v, value) in values.enumerated() where value.group != nil && value.concat == nil {
            let r = find(v)
            if let n = name[r] {
                precondition(concatMember.contains(where: { $0.map(find) == r }) || n == value.group!,
                             "values of groups \(n) and \(value.group!) meet outside a concat")
            } else {
                name[r] = value.group!
            }
        }
        return values.indices.map { v in values[v].isFloat && v != input ? nil : name[find(v)] }
    }
}

/// Where every value of a graph lives for one input size: shapes, the buffer each value is in (a value's
/// own, or its concat's: one buffer for all the slices), and which buffers to take before each node and
/// give back after it. Liveness: a buffer is taken before the first node that writes it and given back
/// after the last node that reads it; the outputs' are kept (the caller gives them back).
struct GraphPlan: Sendable {
    struct Shape: Equatable, Sendable { let channels: Int, height: Int, width: Int }

    /// Per value (the input's is the input's size).
    let shapes: [Shape]
    /// Per value: its buffer (-1: the input, which the caller owns).
    let bufferOfValue: [Int]
    /// Per buffer, numbered in order of first write.
    let bufferShapes: [Shape]
    /// Per buffer: holds an fp32 value (the int8 engine keeps those in fp32 buffers).
    let bufferIsFloat: [Bool]
    /// Per buffer: the first value written into it (a concat's first slice, or the buffer's own value).
    let bufferFirstValue: [Int]
    /// Per node: buffers to take before it runs, and to give back after.
    let take: [[Int]]
    let giveBack: [[Int]]
    /// Static memory: every buffer, and every node's scratch, lives in a slot (4-byte elements); buffers
    /// whose lifetimes overlap never share one. Assigned greedily by size (largest first, each into the
    /// smallest slot free for its whole lifetime). Against the hand-placed acquire/release on a best-fit
    /// arena it replaced: 10–40 % less activation memory on the test fixtures (ActivationMemoryTests).
    let slotElements: [Int]
    let slotOfBuffer: [Int]
    /// Per node: the slots of the scratch the engine asked for, in its order.
    let scratchSlots: [[Int]]

    /// - Parameters:
    ///   - elements: 4-byte elements a buffer of this shape needs in the engine (fp32: c·h·w; the int8
    ///     engine pads its u8 pixels); the Bool says the buffer holds an fp32 value.
    ///   - scratch: elements of the temporary buffers node `i` needs while it runs, given its input and
    ///     output shapes (the int8 engine: the quantized input, fp32 layers' float copies).
    init(_ graph: Graph, height: Int, width: Int,
         elements: (Shape, Bool) -> Int = { s, _ in s.channels * s.height * s.width },
         scratch: (Int, Shape, Shape) -> [Int] = { _, _, _ in [] }) {
        var shapes = [Shape?](repeating: nil, count: graph.values.count)
        var concatShapes = [Shape?](repeating: nil, count: graph.concats.count)
        shapes[graph.input] = Shape(channels: graph.values[graph.input].channels, height: height, width: width)
        func setShape(_ v: Int, _ h: Int, _ w: Int) {
            let value = graph.values[v]
            if let c = value.concat {
                if let s = concatShapes[c] { precondition(s.height == h && s.width == w, "concat \(graph.concats[c].name) size") }
                else { concatShapes[c] = Shape(channels: graph.concats[c].channels, height: h, width: w) }
            }
            shapes[v] = Shape(channels: value.channels, height: h, width: w)
        }
        func concatSize(_ v: Int) -> (Int, Int)? {
            guard let c = graph.values[v].concat else { return nil }
            if let s = concatShapes[c] { return (s.height, s.width) }
            if let like = graph.concats[c].like, let s = shapes[like] { return (s.height, s.width) }
            return nil
        }
        for node in graph.nodes {
            // A slice read before anything wrote it as such (a whole concat) has its concat's size.
            for v in node.inputs where shapes[v] == nil {
                guard let (h, w) = concatSize(v) else { preconditionFailure("\(node.name): input \(v) has no size") }
                setShape(v, h, w)
            }
            let x = shapes[node.inputs[0]]!
            switch node.op {
            case .conv(let s):
                let (h, w) = s.outputSize(x.height, x.width)
                setShape(node.output, h, w)
            case .maxPool:
                setShape(node.output, (x.height - 1) / 2 + 1, (x.width - 1) / 2 + 1)
            case .adaptiveAveragePool(let bins):
                setShape(node.output, bins, bins)
            case .resize:
                guard let (h, w) = concatSize(node.output) else { preconditionFailure("\(node.name): target size unknown") }
                setShape(node.output, h, w)
            case .warpAdd:
                let lat = shapes[node.inputs[2]]!
                setShape(node.output, lat.height, lat.width)
            case .warp:
                let flow = shapes[node.inputs[1]]!
                setShape(node.output, flow.height, flow.width)
            case .modulate, .balancedSum:
                setShape(node.output, x.height, x.width)
            case .boundaryGate:
                let b = shapes[node.inputs[1]]!
                precondition(x.height == b.height && x.width == b.width, "\(node.name): attention and feature sizes differ")
                setShape(node.output, b.height, b.width)
            }
        }
        // Buffers, numbered as first written; a concat's slices share one.
        var bufferOfValue = [Int](repeating: -1, count: graph.values.count)
        var bufferOfConcat = [Int](repeating: -1, count: graph.concats.count)
        var bufferShapes: [Shape] = [], bufferIsFloat: [Bool] = [], bufferFirstValue: [Int] = []
        var take = [[Int]](repeating: [], count: graph.nodes.count)
        var last: [Int] = []
        for (i, node) in graph.nodes.enumerated() {
            let y = node.output, value = graph.values[y]
            if bufferOfValue[y] < 0 {
                if let c = value.concat, bufferOfConcat[c] >= 0 {
                    bufferOfValue[y] = bufferOfConcat[c]
                } else {
                    bufferOfValue[y] = bufferShapes.count
                    if let c = value.concat { bufferOfConcat[c] = bufferShapes.count }
                    bufferShapes.append(value.concat.map { concatShapes[$0]! } ?? shapes[y]!)
                    bufferIsFloat.append(value.isFloat)
                    bufferFirstValue.append(y)
                    if let c = value.concat {
                        precondition(graph.concats[c].declaredAt <= i)
                        take[graph.concats[c].declaredAt].append(bufferShapes.count - 1)
                    } else {
                        take[i].append(bufferShapes.count - 1)
                    }
                    last.append(i)
                }
            }
            for v in node.inputs + (node.residual.map { [$0] } ?? []) where v != graph.input {
                if bufferOfValue[v] < 0, let c = graph.values[v].concat { bufferOfValue[v] = bufferOfConcat[c] }
                precondition(bufferOfValue[v] >= 0, "\(node.name) reads a value nothing wrote")
                last[bufferOfValue[v]] = i
            }
        }
        for v in graph.values.indices where bufferOfValue[v] < 0 && v != graph.input {
            if let c = graph.values[v].concat { bufferOfValue[v] = bufferOfConcat[c] }
        }
        var giveBack = [[Int]](repeating: [], count: graph.nodes.count)
        let kept = Set(([graph.output] + (graph.instanceOutput.map { [$0] } ?? [])).map { bufferOfValue[$0] })
        for (b, i) in last.enumerated() where !kept.contains(b) { giveBack[i].append(b) }
        self.shapes = shapes.map { $0 ?? Shape(channels: 0, height: 0, width: 0) }
        self.bufferOfValue = bufferOfValue
        self.bufferShapes = bufferShapes
        self.bufferIsFloat = bufferIsFloat
        self.bufferFirstValue = bufferFirstValue
        self.take = take
        self.giveBack = giveBack
        // Slots: (elements, first node, last node) items, largest first.
        struct Item { let elements: Int, first: Int, last: Int, buffer: Int?, node: Int }
        var items: [Item] = []
        for b in bufferShapes.indices {
            let firstNode = take.firstIndex { $0.contains(b) }!
            items.append(Item(elements: max(1, elements(bufferShapes[b], bufferIsFloat[b])), first: firstNode,
                              last: kept.contains(b) ? Int.max : last[b], buffer: b, node: firstNode))
        }
        for (i, node) in graph.nodes.enumerated() {
            let sizes = scratch(i, shapes[node.inputs[0]]!, shapes[node.output]!)
            for n in sizes { items.append(Item(elements: max(1, n), first: i, last: i, buffer: nil, node: i)) }
        }
        var slotElements: [Int] = [], slotUses: [[(Int, Int)]] = []
        var slotOfBuffer = [Int](repeating: -1, count: bufferShapes.count)
        var scratchSlots = [[Int]](repeating: [], count: graph.nodes.count)
        var scratchOrder: [(node: Int, slot: Int, index: Int)] = []
        for (index, item) in items.enumerated().sorted(by: {
            ($1.element.elements, $0.element.first, $0.offset) < ($0.element.elements, $1.element.first, $1.offset)
        }) {
            var best = -1
            for k in slotElements.indices where !slotUses[k].contains(where: { item.first <= $0.1 && $0.0 <= item.last }) {
                if best < 0 || slotElements[k] < slotElements[best] { best = k }
            }
            if best < 0 {
                slotElements.append(item.elements)
                slotUses.append([])
                best = slotElements.count - 1
            }
            slotElements[best] = max(slotElements[best], item.elements)
            slotUses[best].append((item.first, item.last))
            if let b = item.buffer { slotOfBuffer[b] = best } else { scratchOrder.append((item.node, best, index)) }
        }
        for s in scratchOrder.sorted(by: { $0.index < $1.index }) { scratchSlots[s.node].append(s.slot) }
        self.slotElements = slotElements
        self.slotOfBuffer = slotOfBuffer
        self.scratchSlots = scratchSlots
    }
}

extension Graph {
    /// Runs `node(i, node)` for every node in order, with `take(buffer)` before and `giveBack(buffer)` after
    /// as `plan` says: the part of a pass every engine shares.
    func execute(_ plan: GraphPlan, take: (Int) -> Void, giveBack: (Int) -> Void, node run: (Int, Node) -> Void) {
        for (i, node) in nodes.enumerated() {
            for b in plan.take[i] { take(b) }
            run(i, node)
            for b in plan.giveBack[i] { giveBack(b) }
        }
    }

    /// Value `v`'s channels within its buffer.
    func channels(_ v: Int) -> Range<Int> { values[v].channelOffset..<(values[v].channelOffset + values[v].channels) }
}

extension ConvSpec {
    func outputSize(_ h: Int, _ w: Int) -> (height: Int, width: Int) {
        ((h + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1, (w + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1)
    }
}
