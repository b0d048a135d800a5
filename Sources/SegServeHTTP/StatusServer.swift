import Dispatch
import Foundation
import Hummingbird
import Logging
import NIOCore
import SegMedia
import SegPipeline
import SegServe

/// `serve`'s HTTP side (docs/http.md): `/metrics`, `/healthz`, `/readyz`, `/api/sources`, the status page at `/`
/// and each source's latest annotated frame as a JPEG. Read-only: GET and HEAD only (anything else: 405).
/// Nothing it answers carries a source URL's credentials: URLs come from ``DaemonStatus`` (redacted), labels
/// are source names.
///
/// It starts before the daemon exists (model loading can take a while): until ``attach(_:)``, `/readyz` says
/// 503 and `/healthz` 200 ("starting").
public final class StatusServer: Sendable {
    public let metrics: ServeMetrics
    private let daemon = Locked<ServeDaemon?>(nil)
    private let snapshots = SnapshotEncoder()
    private let task = Locked<Task<Void, Never>?>(nil)
    private let executor = HTTPTaskExecutor()
    private let logger: Logger

    public init(version: String, logger: Logger) {
        metrics = ServeMetrics(version: version)
        self.logger = logger
    }

    /// From now on the endpoints describe `daemon`.
    public func attach(_ daemon: ServeDaemon) { self.daemon.withLock { $0 = daemon } }

    /// Binds `listen` and serves on Hummingbird's event loops, its tasks on ``HTTPTaskExecutor``; returns the bound
    /// port once listening, or throws ``ServeError`` with one line (address in use, no such address) when it
    /// cannot. Blocks the calling thread until then: call it from a thread of its own (the CLI's main thread).
    public func start(_ listen: HTTPListen) throws -> Int {
        // A taken port or a missing address is found here, with a plain socket: Hummingbird's own failed start
        // cancels its service group, and under load that cancellation deadlocked (swift-async-algorithms'
        // merge lock against the task's status lock), leaving `start` waiting forever.
        if let reason = Self.bindProblem(listen) { throw ServeError("http: cannot listen on \(listen): \(reason)") }
        let outcome = Locked<Result<Int, ServeError>?>(nil)
        let bound = DispatchSemaphore(value: 0)
        var quiet = logger
        quiet.logLevel = .warning  // Hummingbird logs every request at debug and its start at info
        let app = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(listen.host, port: listen.port), serverName: "segstream"),
            onServerRunning: { channel in
                outcome.withLock { $0 = .success(channel.localAddress?.port ?? listen.port) }
                bound.signal()
            },
            logger: quiet)
        let task = Task(executorPreference: executor) {
            var reason = "the server stopped before it listened"
            do {
                try await app.runService(gracefulShutdownSignals: [])
            } catch {
                reason = Self.describe(error)
            }
            // Only a server that never listened has a caller still waiting.
            let first = outcome.withLock { value -> Bool in
                guard value == nil else { return false }
                value = .failure(ServeError("http: cannot listen on \(listen): \(reason)"))
                return true
            }
            if first { bound.signal() }
        }
        // The probe above passed, so the server should listen at once; if its start hangs all the same, fail
        // instead of waiting forever (the caller exits, which ends the stuck task with the process).
        if bound.wait(timeout: .now() + 30) == .timedOut {
            outcome.withLock { if $0 == nil { $0 = .failure(ServeError("http: cannot listen on \(listen): the server did not start within 30 s")) } }
        }
        switch outcome.withLock({ $0 })! {
        case .success(let port):
            self.task.withLock { $0 = task }
            return port
        case .failure(let error):
            throw error
        }
    }

    /// Stops listening (connections in flight are closed).
    public func stop() {
        task.withLock { $0 }?.cancel()
    }

    /// Why `listen` cannot be bound right now (the system's words), or nil: a TCP socket with SO_REUSEADDR, as
    /// NIO's server socket has, bound to the first address `getaddrinfo` gives for it, then closed.
    static func bindProblem(_ listen: HTTPListen) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let found = getaddrinfo(listen.host, String(listen.port), &hints, &list)
        guard found == 0, let info = list else { return String(cString: gai_strerror(found)) }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        return bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 ? nil : String(cString: strerror(errno))
    }

    /// `bind(…) failed: Address already in use (errno: 98)` → `Address already in use`.
    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return text.split(separator: "\n").first.map(String.init) ?? text
    }

    // MARK: - Routes

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ReadOnlyMiddleware())
        let metrics = self.metrics, daemon = self.daemon, snapshots = self.snapshots
        route(router, "/metrics") { _, _ in
            let body = metrics.exposition(from: daemon.withLock { $0 }?.status())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        route(router, "/healthz") { _, _ in
            guard let status = daemon.withLock({ $0 })?.status() else { return Self.text(.ok, "starting\n") }
            return status.progressing ? Self.text(.ok, "ok\n") : Self.text(.serviceUnavailable, "the scheduler is stuck\n")
        }
        route(router, "/readyz") { _, _ in
            guard let status = daemon.withLock({ $0 })?.status() else { return Self.text(.serviceUnavailable, "loading models\n") }
            return status.ready ? Self.text(.ok, "ready\n") : Self.text(.serviceUnavailable, "not ready (starting, reloading or stopping)\n")
        }
        route(router, "/api/sources") { _, _ in
            let status = daemon.withLock { $0 }?.status()
            return Self.json(SourcesJSON.document(status))
        }
        route(router, "/api/sources/:name/snapshot.jpg") { _, context in
            let name = try context.parameters.require("name")
            guard let daemon = daemon.withLock({ $0 }), daemon.status().sources.contains(where: { $0.name == name }) else {
                return Self.text(.notFound, "no source named \(name)\n")
            }
            // The first request starts the copying of frames: wait for one, at most 2 s.
            var frame = daemon.snapshot(of: name)
            for _ in 0..<40 where frame == nil {
                try await Task.sleep(for: .milliseconds(50))
                frame = daemon.snapshot(of: name)
            }
            guard let frame else { return Self.text(.serviceUnavailable, "no frame yet\n") }
            let jpeg = try snapshots.jpeg(of: name, frame)
            return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "no-store"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: jpeg)))
        }
        route(router, "/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: StatusPage.html)))
        }
        return router
    }

    /// GET and HEAD on `path` (HEAD: the same headers, no body).
    private func route(_ router: Router<BasicRequestContext>, _ path: RouterPath,
                       _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response) {
        router.get(path, use: handler)
        router.head(path) { request, context in
            var response = try await handler(request, context)
            response.body = ResponseBody()
            return response
        }
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ object: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Only GET and HEAD reach the routes; every other method is answered 405 with `Allow: GET, HEAD`.
struct ReadOnlyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed, headers: [.allow: "GET, HEAD", .contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: "read-only: GET and HEAD only\n")))
        }
        return try await next(request, context)
    }
}

/// JPEG snapshots, encoded on request and at most every ``minimumInterval`` per source (a page open in many
/// tabs costs no more), through FFmpeg's mjpeg encoder.
final class SnapshotEncoder: Sendable {
    static let minimumInterval = 0.5
    private struct Cached {
        let encoder = JPEGEncoder()
        var sequence = -1
        var jpeg: [UInt8] = []
        var at = -Double.infinity
    }
    private let cache = Locked<[String: Cached]>([:])

    func jpeg(of name: String, _ frame: SnapshotStore.Frame) throws -> [UInt8] {
        try cache.withLock { table in
            var entry = table[name] ?? Cached()
            let now = Telemetry.now()
            if entry.sequence != frame.sequence && now - entry.at >= Self.minimumInterval {
                entry.jpeg = try frame.yuv.withUnsafeBufferPointer { buffer in
                    let base = UnsafeMutablePointer(mutating: buffer.baseAddress!)
                    let w = frame.width, h = frame.height, cw = (w + 1) / 2, ch = (h + 1) / 2
                    return try entry.encoder.encode(YUV420Planes(y: base, u: base + w * h, v: base + w * h + cw * ch,
                                                                 width: w, height: h, lumaStride: w, chromaStride: cw))
                }
                entry.sequence = frame.sequence
                entry.at = now
            }
            table[name] = entry
            return entry.jpeg
        }
    }
}

/// `/api/sources`: every source's state as JSON (docs/http.md).
enum SourcesJSON {
    static func document(_ status: DaemonStatus?) -> [String: Any] {
        [
            "ready": status?.ready ?? false,
            "progressing": status?.progressing ?? true,
            "sources": (status?.sources ?? []).map(source),
        ]
    }

    static func source(_ s: SourceStatus) -> [String: Any] {
        func value<T>(_ v: T?) -> Any { v.map { $0 as Any } ?? NSNull() }
        let classes = s.classNames.enumerated().map { index, name -> [String: Any] in
            let rgb = index < s.palette.count ? s.palette[index] : [0, 0, 0]
            return ["name": name, "color": String(format: "#%02x%02x%02x", rgb[0], rgb[1], rgb[2])]
        }
        return [
            "name": s.name,
            "url": s.redactedURL,
            "state": s.state,
            "fps": value(s.fps.map { ($0 * 100).rounded() / 100 }),
            "latency_ms": value(s.latency.map { ($0 * 10000).rounded() / 10 }),
            "frames_decoded": s.framesDecoded,
            "frames_processed": s.framesProcessed,
            "dropped": s.dropped,
            "skipped_fps": s.skipped,
            "reconnects": s.reconnects,
            "last_frame_age_s": value(s.lastFrameAge.map { ($0 * 1000).rounded() / 1000 }),
            "width": value(s.width),
            "height": value(s.height),
            "last_error": value(s.lastError),
            "snapshot": "/api/sources/\(s.name)/snapshot.jpg",
            "classes": classes,
        ]
    }
}
