import Histogram

/// Latency samples of one pipeline stage, in a fixed-size HDR histogram (microsecond resolution, three
/// significant digits), so a day-long stream costs no more memory than a ten-frame clip.
public struct LatencyStats: Sendable {
    private var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    public private(set) var totalSeconds: Double = 0

    public init() {}

    public mutating func record(seconds: Double) {
        let micros = UInt64(max(0, min(seconds, 3600)) * 1e6)
        _ = histogram.record(micros)
        totalSeconds += seconds
    }

    public mutating func merge(_ other: LatencyStats) {
        histogram.add(other.histogram)
        totalSeconds += other.totalSeconds
    }

    public mutating func reset() {
        histogram.reset()
        totalSeconds = 0
    }

    public var count: Int { Int(histogram.totalCount) }

    /// The latency at a percentile (0–100), in milliseconds; 0 when nothing was recorded.
    public func milliseconds(atPercentile p: Double) -> Double {
        count == 0 ? 0 : Double(histogram.valueAtPercentile(p)) / 1000
    }

    public var meanMilliseconds: Double { count == 0 ? 0 : histogram.mean / 1000 }

    /// `{"p50":…, "p95":…, "p99":…, "mean":…}` in milliseconds, rounded to 0.01.
    public var summary: [String: Double] {
        func r(_ v: Double) -> Double { (v * 100).rounded() / 100 }
        return ["p50": r(milliseconds(atPercentile: 50)), "p95": r(milliseconds(atPercentile: 95)),
                "p99": r(milliseconds(atPercentile: 99)), "mean": r(meanMilliseconds)]
    }
}
