import Foundation
import SegMedia
import SegEngine
import SegPipeline
import SFNet

/// `segstream profile --sweep`: the network alone over sizes × threads × models (precisions), written as
/// sweep.json and two SVG charts (fps against input size; a per-layer roofline).
struct ProfileSweep {
    struct Combination {
        let model: String
        let height: Int
        let width: Int
        let threads: Int
    }

    var models: [String]
    var precisions: [ModelPrecision]?
    var sizes: [NetworkSize]
    var threadCounts: [Int]
    var input: String
    var iterations: Int
    var warmup: Int
    var layerRuns: Int
    var peakPerCore: Double?
    var outputDirectory: String
    /// When set, each combination also runs the whole pipeline on this many frames of `input`.
    var pipelineFrames: Int?

    /// A row of sweep.json: one measured combination.
    struct Row {
        let model: String
        let arch: String
        let precision: String
        let height: Int
        let width: Int
        let threads: Int
        let times: [Double]
        let macs: Int
        let peakGMACs: Double?
        /// The whole pipeline at this combination (`--pipeline-frames`): fps, frames and limiting stage.
        var pipeline: (fps: Double, frames: Int, limitingStage: String)?
        var medianMs: Double { Statistics.median(times) }
        var fps: Double { 1000 / medianMs }
        var gmacs: Double { Double(macs) / 1e9 / (medianMs / 1000) }

        var json: [String: Any] {
            var object: [String: Any] = [
                "model": model, "arch": arch, "precision": precision, "size": "\(height)x\(width)", "height": height,
                "width": width, "pixels": height * width, "threads": threads, "median_ms": medianMs,
                "p90_ms": Statistics.percentile(times, 90), "times_ms": times, "fps": fps, "gmac": Double(macs) / 1e9,
                "gmacs": gmacs, "peak_gmacs": peakGMACs.map { $0 as Any } ?? NSNull(),
                "peak_fraction": peakGMACs.map { gmacs / $0 as Any } ?? NSNull(),
            ]
            if let pipeline {
                object["pipeline_fps"] = pipeline.fps
                object["pipeline_frames"] = pipeline.frames
                object["pipeline_ratio"] = pipeline.fps / fps
                object["pipeline_limiting_stage"] = pipeline.limitingStage
            }
            return object
        }
    }

    /// One convolution of the roofline: its arithmetic intensity and achieved rate.
    struct RooflinePoint {
        let precision: String
        let name: String
        let macs: Int
        let bytes: Int
        let ms: Double
        var intensity: Double { Double(macs) / Double(bytes) }
        var gmacs: Double { ms > 0 ? Double(macs) / 1e9 / (ms / 1000) : 0 }
        var json: [String: Any] {
            ["precision": precision, "name": name, "macs": macs, "bytes": bytes, "mac_per_byte": intensity, "ms": ms, "gmacs": gmacs]
        }
    }

    /// Runs the sweep and writes `sweep.json`, `fps.svg` and `roofline.svg` into the output directory; returns
    /// the lines to print.
    func run() throws -> String {
        var loaded: [(path: String, model: any SegmentationModel)] = []
        for path in models {
            let model = try ModelOptions.loadModel(path: path, precision: nil)
            if let precisions, !precisions.contains(model.precision) { continue }
            loaded.append((path, model))
        }
        for wanted in precisions ?? [] where !loaded.contains(where: { $0.model.precision == wanted }) {
            throw CLIError("--precisions \(wanted.rawValue): none of the models is \(wanted.rawValue) (give its file in --models)", .usage)
        }
        guard let arch = loaded.first?.model.config.arch, loaded.allSatisfy({ $0.model.config.arch == arch }) else {
            throw CLIError("--models must be one network in its precisions (got \(Set(loaded.map { $0.model.config.arch.rawValue }).sorted()))",
                           .usage)
        }
        try createOutputDirectory()
        let isa = KernelISA.active
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let pools = Dictionary(uniqueKeysWithValues: threadCounts.map { ($0, WorkerPool(threads: $0)) })
        var rows: [Row] = []
        var frames: [String: Tensor] = [:]
        for (path, model) in loaded {
            for threads in threadCounts {
                let session = model.makeSession(pool: pools[threads]!)
                for size in sizes {
                    let key = "\(size.height)x\(size.width)"
                    if frames[key] == nil {
                        frames[key] = try Profile.inputTensor(path: input, height: size.height, width: size.width, config: model.config)
                    }
                    let tensor = frames[key]!
                    let times = session.timedPasses(tensor, warmup: warmup, iterations: iterations)
                    let macs = session.profile(input: tensor).reduce(0) { $0 + $1.macs }
                    let perCore = peakPerCore ?? Profile.peakPerCore(precision: model.precision.rawValue, isa: isa)
                    var row = Row(model: path, arch: model.config.arch.rawValue, precision: model.precision.rawValue,
                                  height: size.height, width: size.width, threads: threads, times: times, macs: macs,
                                  peakGMACs: perCore.map { $0 * Double(min(threads, cores)) })
                    if let pipelineFrames {
                        let measured = try PipelineRun(clip: input, networkSize: size, frames: pipelineFrames, output: nil,
                                                       encoder: EncoderSettings()).run(model: model, pool: pools[threads]!)
                        let limiting = PipelineProfileReport.StageRow.limiting(measured.stages, seconds: measured.summary.seconds)
                        row.pipeline = (measured.summary.fps, measured.summary.frames, limiting.stage.rawValue)
                    }
                    rows.append(row)
                }
            }
        }

        // The roofline at the largest size and the most threads: each conv's median over --layer-runs passes.
        let rooflineSize = sizes.max { $0.height * $0.width < $1.height * $1.width }!
        let rooflineThreads = threadCounts.max()!
        let tensor = frames["\(rooflineSize.height)x\(rooflineSize.width)"]!
        var points: [RooflinePoint] = []
        for (_, model) in loaded {
            let session = model.makeSession(pool: pools[rooflineThreads]!)
            let runs = (0..<layerRuns).map { _ in session.profile(input: tensor) }
            for (i, layer) in runs[0].enumerated() where layer.macs > 0 && layer.bytes > 0 {
                let ms = Statistics.median(runs.map { $0[i].seconds * 1000 })
                points.append(RooflinePoint(precision: model.precision.rawValue, name: layer.name, macs: layer.macs,
                                            bytes: layer.bytes, ms: ms))
            }
        }
        let bandwidth = Self.copyBandwidth(threads: rooflineThreads)
        var peaks: [String: Double] = [:]
        for precision in Set(loaded.map { $0.model.precision.rawValue }) {
            let perCore = peakPerCore ?? Profile.peakPerCore(precision: precision, isa: isa)
            if let perCore { peaks[precision] = perCore * Double(min(rooflineThreads, cores)) }
        }

        let document: [String: Any] = [
            "rows": rows.map(\.json), "arch": arch.rawValue, "isa": isa.name, "cores": cores, "input": input,
            "iterations": iterations, "warmup": warmup,
            "roofline": [
                "size": "\(rooflineSize.height)x\(rooflineSize.width)", "threads": rooflineThreads, "layer_runs": layerRuns,
                "copy_bandwidth_gbs": bandwidth, "peak_gmacs": peaks, "layers": points.map(\.json),
            ] as [String: Any],
        ]
        let directory = URL(fileURLWithPath: outputDirectory)
        let json = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted])
        try write(json, to: directory.appendingPathComponent("sweep.json"))
        try write(Data(fpsChart(rows).render().utf8), to: directory.appendingPathComponent("fps.svg"))
        let roofline = rooflineChart(points, peaks: peaks, bandwidth: bandwidth, size: rooflineSize, threads: rooflineThreads)
        try write(Data(roofline.render().utf8), to: directory.appendingPathComponent("roofline.svg"))

        var lines = ["segstream profile --sweep: \(arch.rawValue), \(rows.count) combinations, kernels \(isa.name), \(cores) cores"]
        lines.append("precision  threads  size (HxW)   median ms       fps    GMAC/s")
        for row in rows {
            lines.append(row.precision.padding(toLength: 10, withPad: " ", startingAt: 0)
                         + String(format: " %7d  ", row.threads)
                         + "\(row.height)x\(row.width)".padding(toLength: 11, withPad: " ", startingAt: 0)
                         + String(format: " %9.2f %9.2f %9.1f", row.medianMs, row.fps, row.gmacs)
                         + (row.pipeline.map { String(format: "   pipeline %.2f fps (%.0f%%), limited by %@", $0.fps, 100 * $0.fps / row.fps,
                                                          $0.limitingStage) } ?? ""))
        }
        lines.append(String(format: "roofline: %d convs at %dx%d, %d thread(s); copy bandwidth %.1f GB/s (measured)",
                            points.count, rooflineSize.height, rooflineSize.width, rooflineThreads, bandwidth))
        lines.append("wrote \(directory.appendingPathComponent("sweep.json").path), fps.svg, roofline.svg")
        return lines.joined(separator: "\n")
    }

    /// Memory bandwidth as a copy measures it (STREAM's "copy": bytes read plus bytes written per second), with
    /// `threads` threads each copying its share of a 64 MiB buffer, far beyond the caches; best of 5.
    static func copyBandwidth(threads: Int) -> Double {
        let bytes = 64 << 20
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { source.deallocate(); destination.deallocate() }
        memset(source, 1, bytes)
        memset(destination, 0, bytes)
        let chunk = bytes / threads
        let pointers = UnsafeTransferPair(source: source, destination: destination)
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = Telemetry.now()
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                let count = i == threads - 1 ? bytes - i * chunk : chunk
                memcpy(pointers.destination + i * chunk, pointers.source + i * chunk, count)
            }
            best = min(best, Telemetry.now() - t0)
        }
        return 2 * Double(bytes) / best / 1e9
    }

    func fpsChart(_ rows: [Row]) -> SVGChart {
        var series: [SVGChart.Series] = []
        let groups = Dictionary(grouping: rows) { "\($0.precision), \($0.threads) thread\($0.threads == 1 ? "" : "s")" }
        for (i, name) in groups.keys.sorted().enumerated() {
            let points = groups[name]!.map {
                SVGChart.Point(x: Double($0.height * $0.width), y: $0.fps,
                               label: String(format: "%@ %dx%d, %d thread(s): %.2f fps (%.2f ms)", $0.precision, $0.height,
                                             $0.width, $0.threads, $0.fps, $0.medianMs))
            }
            let color = SVGChart.palette[i % SVGChart.palette.count]
            series.append(.init(name: name, color: color, points: points, connected: true))
            let pipelinePoints = groups[name]!.compactMap { row in
                row.pipeline.map {
                    SVGChart.Point(x: Double(row.height * row.width), y: $0.fps,
                                   label: String(format: "%@ %dx%d, %d thread(s), whole pipeline: %.2f fps (%.0f%% of the network alone, limited by %@)",
                                                 row.precision, row.height, row.width, row.threads, $0.fps, 100 * $0.fps / row.fps,
                                                 $0.limitingStage))
                }
            }
            if !pipelinePoints.isEmpty {
                series.append(.init(name: name + ", pipeline", color: color, points: pipelinePoints, connected: true, dashed: true))
            }
        }
        let ticks = sizes.map { (value: Double($0.height * $0.width), label: "\($0.height)x\($0.width)") }
        let arch = rows.first?.arch ?? ""
        let what = rows.contains { $0.pipeline != nil } ? "solid: network alone, dashed: whole pipeline" : "network alone"
        return SVGChart(title: "\(arch): fps against input size (\(what))",
                        xLabel: "input size, pixels (HxW)", yLabel: "fps", series: series, xTicks: ticks)
    }

    func rooflineChart(_ points: [RooflinePoint], peaks: [String: Double], bandwidth: Double, size: NetworkSize,
                       threads: Int) -> SVGChart {
        var series: [SVGChart.Series] = []
        let precisions = Set(points.map(\.precision)).sorted()
        for (i, precision) in precisions.enumerated() {
            let mine = points.filter { $0.precision == precision }.map {
                SVGChart.Point(x: $0.intensity, y: $0.gmacs,
                               label: String(format: "%@ %@: %.1f MAC/B, %.1f GMAC/s, %.3f ms", precision, $0.name, $0.intensity,
                                             $0.gmacs, $0.ms))
            }
            series.append(.init(name: "\(precision) convs", color: SVGChart.palette[i % SVGChart.palette.count], points: mine,
                                connected: false))
        }
        // Ceilings over a wide intensity range; the chart clips them to its axes.
        let intensities = points.map(\.intensity).filter { $0 > 0 }
        let lo = (intensities.min() ?? 1) / 100, hi = (intensities.max() ?? 1) * 100
        var guides: [SVGChart.Guide] = []
        for (i, precision) in precisions.enumerated() {
            guard let peak = peaks[precision] else { continue }
            let knee = peak / bandwidth
            guides.append(.init(name: String(format: "%@ peak %.0f GMAC/s", precision, peak),
                                color: SVGChart.palette[i % SVGChart.palette.count],
                                points: [(x: max(lo, knee), y: peak), (x: hi, y: peak)]))
        }
        let maxPeak = peaks.values.max() ?? (points.map(\.gmacs).max() ?? 1)
        guides.append(.init(name: String(format: "copy bandwidth %.1f GB/s", bandwidth), color: "#555555",
                            points: [(x: lo, y: lo * bandwidth), (x: maxPeak / bandwidth, y: maxPeak)]))
        return SVGChart(title: "roofline: each conv at \(size.height)x\(size.width), \(threads) thread\(threads == 1 ? "" : "s")",
                        xLabel: "arithmetic intensity, MAC per byte moved (weights + input + output)",
                        yLabel: "achieved GMAC/s", series: series, guides: guides)
    }

    private func createOutputDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw CLIError("cannot create --out directory \(outputDirectory): \(error.localizedDescription)", .ioError)
        }
    }

    private func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw CLIError("cannot write \(url.path): \(error.localizedDescription)", .ioError)
        }
    }
}

/// The copy buffers, shared read-only (as pointers) by the copy threads, which write disjoint ranges.
private struct UnsafeTransferPair: @unchecked Sendable {
    let source: UnsafeMutableRawPointer
    let destination: UnsafeMutableRawPointer
}
