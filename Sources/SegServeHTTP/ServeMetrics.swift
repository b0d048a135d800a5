import CoreMetrics
import Foundation
import Prometheus
import SegEngine
import SegPipeline
import SegServe

/// The Prometheus side of `serve` (docs/http.md, "Metrics"): one registry per daemon, never the global
/// `MetricsSystem` (which can be bootstrapped once per process; tests run many daemons in one).
///
/// - The pipelines' swift-metrics (`PipelineMetric`, `ServeMetric`) reach it through ``factory``, a
///   `PrometheusMetricsFactory` whose sanitizer renames the pipelines' `stream` dimension to `source` (the
///   source's name, never its URL) and whose timers are histograms in seconds.
/// - What is a state rather than an event (source up, seconds since the last frame, inference utilisation) is
///   read from the daemon at each scrape (``refresh(from:)``).
public final class ServeMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Give this to `ServeDaemon` as its `metrics`.
    public let factory: PrometheusMetricsFactory

    private let sourceUp: Locked<[String: Prometheus.Gauge]> = Locked([:])
    private let frameAge: Locked<[String: Prometheus.Gauge]> = Locked([:])
    private let utilisation: Prometheus.Gauge
    private let busySeconds: Prometheus.Counter
    private let ready: Prometheus.Gauge
    /// The pool's busy time and the wall-clock time at the previous scrape (utilisation is over the interval).
    private let lastSample = Locked<(busy: Double, at: Double)?>(nil)
    private let busyReported = Locked(0.0)

    /// Stage and frame latency buckets: 1 ms to 10 s (a CPU frame takes tens to hundreds of milliseconds).
    public static let latencyBuckets: [Duration] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
        .map { .microseconds(Int64($0 * 1000)) }

    public init(version: String) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        factory.nameAndLabelSanitizer = { name, labels in
            (name, labels.map { $0.0 == "stream" ? ("source", $0.1) : $0 })
        }
        self.factory = factory
        registry.makeGauge(name: "segstream_build_info", labels: [("version", version)],
                           help: "Always 1; the label says which segstream is running.").set(to: 1.0)
        utilisation = registry.makeGauge(
            name: "segstream_inference_utilization",
            help: "Fraction of wall time the shared worker pool ran forward passes, since the previous scrape.")
        busySeconds = registry.makeCounter(
            name: "segstream_inference_busy_seconds_total",
            help: "Seconds the shared worker pool spent running forward passes (all sources).")
        ready = registry.makeGauge(name: "segstream_ready", help: "1 once models are loaded and the configuration applied.")
    }

    /// `loader`, with each load's time and the file's size reported (``modelLoaded(path:seconds:)``).
    public func timing(_ loader: @escaping ModelCache.Loader) -> ModelCache.Loader {
        { path, precision in
            let started = Telemetry.now()
            let model = try loader(path, precision)
            self.modelLoaded(path: path, seconds: Telemetry.now() - started)
            return model
        }
    }

    /// A model file loaded (start-up or reload): how long it took and its size, labelled by the file's name.
    public func modelLoaded(path: String, seconds: Double) {
        let name = (path as NSString).lastPathComponent
        registry.makeGauge(name: "segstream_model_load_seconds", labels: [("model", name)],
                           help: "Time the last load of this model file took.").set(to: seconds)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue ?? 0
        registry.makeGauge(name: "segstream_model_size_bytes", labels: [("model", name)],
                           help: "Size of the model file.").set(to: bytes)
    }

    /// Sets the gauges that describe a state from the daemon's status now (before each scrape).
    public func refresh(from status: DaemonStatus?) {
        ready.set(to: status?.ready == true ? 1.0 : 0.0)
        let names = Set(status?.sources.map(\.name) ?? [])
        for source in status?.sources ?? [] {
            gauge(sourceUp, "segstream_source_up", source.name,
                  help: "1 while the source is connected and delivering frames (state running).")
                .set(to: source.state == SourcePhase.running.name ? 1.0 : 0.0)
            gauge(frameAge, "segstream_seconds_since_last_frame", source.name,
                  help: "Seconds since the source's last decoded frame (-1 before the first).")
                .set(to: source.lastFrameAge ?? -1)
        }
        // Sources removed by a reload leave the state gauges (their counters stay: they are totals).
        for table in [sourceUp, frameAge] {
            table.withLock { gauges in
                for (name, gauge) in gauges where !names.contains(name) {
                    registry.unregisterGauge(gauge)
                    gauges[name] = nil
                }
            }
        }
        let busy = WorkerPool.shared.busySeconds, now = Telemetry.now()
        busyReported.withLock { reported in
            if busy > reported { busySeconds.increment(by: busy - reported) }
            reported = max(reported, busy)
        }
        lastSample.withLock { last in
            if let previous = last, now - previous.at >= 0.5 {
                utilisation.set(to: min(max((busy - previous.busy) / (now - previous.at), 0), 1))
                last = (busy, now)
            } else if last == nil {
                last = (busy, now)
            }
        }
    }

    /// The text exposition format (version 0.0.4).
    public func exposition(from status: DaemonStatus?) -> [UInt8] {
        refresh(from: status)
        return registry.emitToBuffer()
    }

    private func gauge(_ table: Locked<[String: Prometheus.Gauge]>, _ metric: String, _ source: String, help: String) -> Prometheus.Gauge {
        table.withLock { gauges in
            if let gauge = gauges[source] { return gauge }
            let gauge = registry.makeGauge(name: metric, labels: [("source", source)], help: help)
            gauges[source] = gauge
            return gauge
        }
    }
}
