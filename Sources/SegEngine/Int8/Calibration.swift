import Foundation

/// How an activation's quantization range is chosen from calibration data (docs/int8.md).
public enum CalibrationMethod: String, Sendable, CaseIterable {
    /// The observed minimum and maximum.
    case minmax
    /// The `percentile` (default 99.99) quantile at the top (and 100 − p at the bottom for signed data).
    case percentile
    /// The range [t·min, t·max] minimising the expected squared quantization error (clipping + rounding).
    case mse
    /// The range [t·min, t·max] minimising KL(P‖Q) between the value histogram and its 255-level
    /// quantization (TensorRT's entropy calibration, on an asymmetric range).
    case entropy
}

/// Per-tensor statistics gathered over calibration frames, in two passes: `observe` first records
/// min/max; after `beginHistograms()` it fills a fixed-range histogram per tensor (exact zeros, which
/// quantize exactly, counted apart).
public final class ActivationCalibrator {
    public static let bins = 4096
    private var minimum: [String: Float] = [:]
    private var maximum: [String: Float] = [:]
    private var histograms: [String: [Double]] = [:]
    private var zeros: [String: Double] = [:]
    public private(set) var histogramPass = false

    public init() {}

    public var names: [String] { minimum.keys.sorted() }

    public func observe(_ name: String, _ values: UnsafePointer<Float>, count: Int) {
        guard count > 0 else { return }
        if !histogramPass {
            var lo = minimum[name] ?? .infinity, hi = maximum[name] ?? -.infinity
            for i in 0..<count { let v = values[i]; lo = min(lo, v); hi = max(hi, v) }
            minimum[name] = lo; maximum[name] = hi
            return
        }
        guard let lo0 = minimum[name], let hi0 = maximum[name] else { return }
        let lo = min(lo0, 0), hi = max(hi0, 0)
        let n = Self.bins
        let inv = hi > lo ? Float(n) / (hi - lo) : 0
        var h = histograms[name] ?? [Double](repeating: 0, count: n)
        var z = zeros[name] ?? 0
        h.withUnsafeMutableBufferPointer { hp in
            for i in 0..<count {
                let v = values[i]
                if v == 0 { z += 1; continue }
                let b = Int((v - lo) * inv)
                hp[max(0, min(n - 1, b))] += 1
            }
        }
        histograms[name] = h
        zeros[name] = z
    }

    public func observe(_ name: String, _ t: Tensor) { observe(name, t.data, count: t.count) }

    /// Switches `observe` from the min/max pass to the histogram pass.
    public func beginHistograms() { histogramPass = true }

    /// The observed [min, max] of `name`.
    public func observedRange(_ name: String) -> (min: Float, max: Float)? {
        guard let lo = minimum[name], let hi = maximum[name] else { return nil }
        return (lo, hi)
    }

    /// The quantization params of `name` by `method`; nil if it was never observed.
    public func params(_ name: String, method: CalibrationMethod, percentile: Double = 99.99) -> QuantParams? {
        guard let lo0 = minimum[name], let hi0 = maximum[name] else { return nil }
        let lo = min(lo0, 0), hi = max(hi0, 0)
        if method == .minmax || !histogramPass || hi <= lo { return QuantParams(min: lo, max: hi) }
        let h = histograms[name] ?? [Double](repeating: 0, count: Self.bins)
        let r = Self.chooseRange(histogram: h, zeros: zeros[name] ?? 0, lo: lo, hi: hi, method: method, percentile: percentile)
        return QuantParams(min: r.lo, max: r.hi)
    }

    static func chooseRange(histogram h: [Double], zeros: Double, lo: Float, hi: Float, method: CalibrationMethod,
                            percentile: Double) -> (lo: Float, hi: Float) {
        let n = h.count
        let width = Double(hi - lo) / Double(n)
        func center(_ i: Int) -> Double { Double(lo) + (Double(i) + 0.5) * width }
        switch method {
        case .minmax:
            return (lo, hi)
        case .percentile:
            let total = h.reduce(0, +) + zeros
            guard total > 0 else { return (lo, hi) }
            let tail = total * (1 - percentile / 100)
            var top = n - 1, acc = 0.0
            while top > 0 && acc + h[top] <= tail && center(top) > 0 { acc += h[top]; top -= 1 }
            var bottom = 0
            acc = 0
            while bottom < n - 1 && acc + h[bottom] <= tail && center(bottom) < 0 { acc += h[bottom]; bottom += 1 }
            return (Float(Double(lo) + Double(bottom) * width), Float(Double(lo) + Double(top + 1) * width))
        case .mse, .entropy:
            var best = (t: 1.0, err: Double.infinity)
            // Shrink both ends towards 0 by t; at least 1/16 of the observed range is kept.
            for k in stride(from: 256, through: 16, by: -1) {
                let t = Double(k) / 256
                let a = Double(lo) * t, b = Double(hi) * t
                let err = method == .mse ? mse(h, center, a, b) : kl(h, center, width, a, b)
                if err < best.err { best = (t, err) }
            }
            return (Float(Double(lo) * best.t), Float(Double(hi) * best.t))
        }
    }

    /// Expected squared error of quantizing the histogram to 256 levels over [a, b].
    private static func mse(_ h: [Double], _ center: (Int) -> Double, _ a: Double, _ b: Double) -> Double {
        let step = (b - a) / 255, rounding = step * step / 12
        var e = 0.0
        for i in h.indices where h[i] > 0 {
            let x = center(i)
            if x < a { e += h[i] * (a - x) * (a - x) } else if x > b { e += h[i] * (x - b) * (x - b) } else { e += h[i] * rounding }
        }
        return e
    }

    /// KL(P‖Q) as in TensorRT's entropy calibration: P = the histogram restricted to [a, b] with the
    /// clipped mass folded into the edge bins; Q = the in-range histogram *without* that mass, merged into
    /// 255 equal buckets and spread back evenly over each bucket's non-empty bins (so clipping costs).
    private static func kl(_ h: [Double], _ center: (Int) -> Double, _ width: Double, _ a: Double, _ b: Double) -> Double {
        let n = h.count
        var first = 0, last = n - 1
        while first < n - 1 && center(first) < a { first += 1 }
        while last > 0 && center(last) > b { last -= 1 }
        guard last > first else { return .infinity }
        let raw = Array(h[first...last])
        var p = raw
        p[0] += h[..<first].reduce(0, +)
        p[p.count - 1] += h[(last + 1)...].reduce(0, +)
        let pTotal = p.reduce(0, +), qTotal = raw.reduce(0, +)
        guard pTotal > 0, qTotal > 0 else { return .infinity }
        let levels = 255
        let step = (b - a) / Double(levels)
        var bucketMass = [Double](repeating: 0, count: levels + 1)
        var bucketBins = [Double](repeating: 0, count: levels + 1)
        var bucketOf = [Int](repeating: 0, count: raw.count)
        for j in raw.indices {
            let q = max(0, min(levels, Int(((center(first + j) - a) / step).rounded())))
            bucketOf[j] = q
            bucketMass[q] += raw[j]
            if raw[j] > 0 { bucketBins[q] += 1 }
        }
        var d = 0.0
        for j in p.indices where p[j] > 0 {
            let bins = bucketBins[bucketOf[j]]
            let q = raw[j] > 0 && bins > 0 ? bucketMass[bucketOf[j]] / bins / qTotal : 1e-12
            let pj = p[j] / pTotal
            d += pj * log(pj / q)
        }
        return d
    }
}
