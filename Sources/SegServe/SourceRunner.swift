import CoreMetrics
import Foundation
import Logging
import SegMedia
import SegPipeline
import SFNet

/// What one connection of a source tells the daemon's loop. `generation` names the connection: the loop ignores
/// reports of a connection it has already replaced.
struct SourceEvent: Sendable {
    enum Kind: Sendable {
        /// The input opened (its header was read).
        case connected(width: Int, height: Int)
        /// Opening or reading failed, or the run failed (one line, credentials redacted by the logger).
        case failed(String)
        /// A file reached its end.
        case endOfStream
        /// The loop asked it to stop and it did; every output is closed.
        case stopped
        /// The run is over (after one of the above): its counts.
        case ran(frames: Int, dropped: Int, skipped: Int, segments: Int)
    }
    let name: String
    let generation: Int
    let kind: Kind
}

/// One connection: its thread's stop handles and its progress, shared with the loop.
final class Connection: Sendable {
    let generation: Int
    let interrupter = SourceInterrupter()
    let stop = RunStop()
    /// Left when the connection's thread has closed everything.
    let done = DispatchGroup()
    let progress = Locked(SourceProgress())
    /// Set when this connection gave up waiting for its predecessor: the predecessor's group, which the next
    /// connection must wait for instead (so one wedged connection never has more than one thread waiting on it).
    let blockedBy = Locked<DispatchGroup?>(nil)

    /// What a later connection (or the shutdown) must wait for: the wedged predecessor, or this connection.
    var closing: DispatchGroup { blockedBy.withLock { $0 } ?? done }

    init(generation: Int) {
        self.generation = generation
        done.enter()
    }

    /// Wakes a blocked open or read and ends the run (frames in flight finish, outputs close).
    func requestStop() {
        interrupter.interrupt()
        stop.request()
    }

    var isDone: Bool { done.wait(timeout: .now()) == .success }
}

/// One source's worker: opens its input with deadlines and runs it through its own `StreamPipeline` (sharing the
/// model with every other source) into the source's outputs, one connection at a time, each on a thread of its
/// own. The daemon's loop drives it (``connect(generation:post:)``, ``disconnect()``) as the source's state machine
/// says; the worker reports back through `post`. A connection never outlives its outputs: when its thread ends,
/// the recording segment is closed and every file is complete.
///
/// Used by the loop thread only (the connection threads share only ``Connection`` and the locked counters).
final class SourceRunner {
    let source: SourceConfig
    let directory: String
    let model: any SegmentationModel
    let pipeline: StreamPipeline
    let lines: SourceLines?
    /// Frames that reached the outputs, over every connection (the loop derives the rate).
    let processed = Locked(0)
    private(set) var current: Connection?
    /// The connection to wait for before opening a new one (this runner's or, after a reload, its predecessor's).
    private var previous: DispatchGroup?
    private let logger: Logger
    /// Summaries and events go here when the configuration has `mqtt:`.
    let mqtt: MQTTPublisher?
    /// Where the annotated frames go while someone watches (nil: HTTP off).
    let snapshots: SnapshotStore?

    init(source: SourceConfig, directory: String, model: any SegmentationModel, after predecessor: SourceRunner?,
         logger: Logger, mqtt: MQTTPublisher? = nil, metrics: any MetricsFactory = MetricsSystem.factory,
         snapshots: SnapshotStore? = nil) throws {
        let unknown = MQTTFrameSink.unknownClasses(source.events, classNames: model.config.classNames)
        if let problem = unknown.first { throw ServeError("source \(source.name): \(problem)") }
        self.mqtt = mqtt
        self.snapshots = snapshots
        self.source = source
        self.directory = directory
        self.model = model
        self.logger = logger
        var configuration = StreamPipeline.Configuration()
        switch source.network {
        case .size(let width, let height): configuration.networkSize = SFNet.NetworkSize(width: width, height: height)
        case .scale(let scale): configuration.scale = scale
        }
        configuration.dropPolicy = source.drop == .wait ? .wait : .dropOldest
        configuration.maxWait = source.maxWait.seconds
        pipeline = StreamPipeline(model: model, configuration: configuration, metrics: metrics)
        previous = predecessor?.current?.done
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ServeError("source \(source.name): cannot create \(directory): \(error.localizedDescription)")
        }
        lines = try source.jsonLines.map { output in
            do {
                return try SourceLines(path: (directory as NSString).appendingPathComponent("frames.jsonl"), output: output)
            } catch {
                throw ServeError("source \(source.name): \(error)")
            }
        }
    }

    var name: String { source.name }

    /// Opens a new connection on its own thread (after the previous one has closed everything).
    func connect(generation: Int, post: @escaping @Sendable (SourceEvent) -> Void) {
        let connection = Connection(generation: generation)
        let wait = current?.closing ?? previous
        current = connection
        previous = nil
        // Waiting for the previous connection to close its outputs is bounded: a connection that does not close
        // (a write blocked on a dead disk) makes this one fail, and the source backs off, instead of piling up
        // threads.
        let patience = DispatchTimeInterval.nanoseconds(Int(Backoff.nanoseconds(max(source.stallTimeout, .seconds(5)))))
        let job = ConnectionJob(source: source, directory: directory, pipeline: pipeline, lines: lines,
                                classNames: model.config.classNames, processed: processed, connection: connection,
                                mqtt: mqtt, snapshots: snapshots, post: post)
        let thread = Thread {
            if let wait, wait.wait(timeout: .now() + patience) == .timedOut {
                connection.blockedBy.withLock { $0 = wait }
                job.report(.failed("the previous connection has not closed its outputs yet"))
            } else {
                job.run()
            }
            connection.done.leave()
        }
        thread.name = "segstream.source"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops the current connection, if any (it reports `stopped` once everything is closed).
    func disconnect() { current?.requestStop() }

    /// True when no connection thread is left.
    var isIdle: Bool { (current?.closing ?? previous).map { $0.wait(timeout: .now()) == .success } ?? true }

    /// Waits until every connection thread has ended, at most until `deadline`; false if one is still running.
    func waitIdle(until deadline: DispatchTime) -> Bool {
        guard let group = current?.closing ?? previous else { return true }
        return group.wait(timeout: deadline) == .success
    }
}

/// One connection's work, on its own thread: open, run, close, report.
struct ConnectionJob: Sendable {
    let source: SourceConfig
    let directory: String
    let pipeline: StreamPipeline
    let lines: SourceLines?
    let classNames: [String]
    let processed: Locked<Int>
    let connection: Connection
    let mqtt: MQTTPublisher?
    let snapshots: SnapshotStore?
    let post: @Sendable (SourceEvent) -> Void

    /// Reports to the loop; a failure's text loses any credentials here, before it reaches a log, a status line or
    /// `frames.jsonl` (FFmpeg's messages quote the URL).
    func report(_ kind: SourceEvent.Kind) {
        var kind = kind
        if case .failed(let text) = kind { kind = .failed(Redaction.redactURLs(in: text)) }
        post(SourceEvent(name: source.name, generation: connection.generation, kind: kind))
    }

    func run() {
        if connection.stop.isRequested {
            report(.stopped)
            return
        }
        var options = SourceOptions()
        let deadline = source.stallTimeout.seconds
        if source.kind.isLive {
            // Every open and read has a deadline; the loop's stall watchdog (same timeout) backs them up.
            options.openTimeout = deadline
            options.readTimeout = deadline
        }
        options.live = source.kind.isLive
        options.decoderThreads = 1
        let input: VideoSource
        do {
            input = try VideoSource(source.url, options: options, interrupter: connection.interrupter)
        } catch {
            report(connection.stop.isRequested ? .stopped : .failed("\(error)"))
            return
        }
        let stop = connection.stop
        let paced = PacedSource(input: input, fps: source.fps, name: source.name, progress: connection.progress,
                                realTime: !source.kind.isLive, isStopped: { stop.isRequested })
        let stream = paced.streamInfo
        report(.connected(width: stream.width, height: stream.height))

        var sinks: [any FrameSink] = []
        var recorder: SegmentRecorderSink?
        do {
            if let recording = source.recording {
                let sink = try SegmentRecorderSink(directory: (directory as NSString).appendingPathComponent("recordings"),
                                                   output: recording, stream: stream) { _ in }
                recorder = sink
                sinks.append(sink)
            }
            if let masks = source.masks {
                sinks.append(try MaskFilesSink(directory: (directory as NSString).appendingPathComponent("masks"), output: masks))
            }
        } catch {
            report(.failed("\(error)"))
            return
        }
        if let snapshots { sinks.append(SnapshotSink(store: snapshots)) }
        if let lines {
            sinks.append(FrameLinesSink(lines: lines, classNames: classNames, processed: processed))
        } else {
            sinks.append(CountingSink(processed: processed))
        }
        if let mqtt {
            sinks.append(MQTTFrameSink(publisher: mqtt, source: source.name, classNames: classNames, rules: source.events))
        }

        var outcome: SourceEvent.Kind
        var frames = 0, dropped = 0
        do {
            let summary = try pipeline.run(source: paced, sinks: sinks, stop: connection.stop)
            frames = summary.frames
            dropped = summary.dropped
            if let error = summary.inputError {
                outcome = .failed(error.description)
            } else if summary.interrupted || connection.stop.isRequested {
                outcome = .stopped
            } else {
                outcome = .endOfStream
            }
        } catch {
            outcome = connection.stop.isRequested ? .stopped : .failed("\(error)")
        }
        let skipped = connection.progress.withLock { $0.skipped }
        report(outcome)
        report(.ran(frames: frames, dropped: dropped, skipped: skipped, segments: recorder?.closed.count ?? 0))
    }
}
