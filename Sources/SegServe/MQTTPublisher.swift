import CMosquitto
import Dispatch
import Foundation
import Logging
import SegPipeline

/// The daemon's MQTT client (docs/mqtt.md), on libmosquitto, with a network thread of its own.
///
/// Video never waits for it: ``publish(_:payload:)`` appends to a bounded queue and returns (when the broker is
/// away and the queue is full, the oldest message is dropped and counted); only the network thread calls into
/// libmosquitto. That thread connects, runs `mosquitto_loop`, and after a refused or lost connection waits a delay
/// drawn from SegServe's ``Backoff`` (the `backoff:` settings, as sources do) before connecting again. A broker
/// that is down at start is just a first failure.
///
/// Availability is state, not a message: the daemon's topic carries `online` (and the broker's last will,
/// `offline`, when the connection dies without a goodbye), each source's topic its latest `online`/`offline`; all
/// retained, QoS 1, and published again after every (re)connection, so a broker that restarted without
/// persistence knows them again.
///
/// `@unchecked Sendable`: the libmosquitto handle belongs to the network thread; everything else is in `state`.
public final class MQTTPublisher: @unchecked Sendable {
    public let settings: MQTTSettings
    public let clientID: String
    /// `PREFIX/availability`, or `PREFIX/shard/K/availability` for shard K of a fleet (N > 1).
    public let daemonTopic: String
    private let backoffSettings: BackoffSettings
    private let logger: Logger
    private let state = Locked(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    private struct State {
        var queue: [(topic: String, payload: String)] = []
        var dropped = 0
        var published = 0
        /// Per source: online or not; `dirty` ones are published at the next chance.
        var availability: [String: Bool] = [:]
        var dirty: Set<String> = []
        var stopping = false
        var started = false
        /// Set by the CONNACK callback: nil while connecting, else the broker's return code.
        var connack: Int32?
        var connected = false
        var connections = 0
    }

    /// Topic of one source: `PREFIX/SOURCE/LEAF` (`availability`, `summary`, `events`).
    public func topic(_ source: String, _ leaf: String) -> String { "\(settings.topicPrefix)/\(source)/\(leaf)" }

    public init(settings: MQTTSettings, shard: Shard?, backoff: BackoffSettings, logger: Logger) {
        self.settings = settings
        let sharded = shard.map { $0.count > 1 } ?? false
        clientID = settings.clientID ?? (sharded ? "segstream-shard-\(shard!.index)" : "segstream")
        daemonTopic = sharded ? "\(settings.topicPrefix)/shard/\(shard!.index)/availability"
            : "\(settings.topicPrefix)/availability"
        backoffSettings = backoff
        self.logger = logger
    }

    /// Messages dropped because the queue was full (the broker away for long), since start.
    public var droppedMessages: Int { state.withLock { $0.dropped } }
    /// Messages handed to the broker connection, since start (availability included).
    public var publishedMessages: Int { state.withLock { $0.published } }
    /// Whether the broker has accepted the current connection.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Queues a summary or an event (QoS from the settings, not retained); never blocks.
    public func publish(_ topic: String, payload: String) {
        var droppedNow = false
        state.withLock { s in
            guard !s.stopping else { return }
            if s.queue.count >= settings.queueSize {
                s.queue.removeFirst()
                s.dropped += 1
                droppedNow = s.dropped == 1 || s.dropped.isMultiple(of: 1000)
            }
            s.queue.append((topic, payload))
        }
        if droppedNow {
            logger.warning("mqtt: the broker is not taking messages; dropping the oldest queued ones",
                           metadata: ["dropped": "\(droppedMessages)", "queue_size": "\(settings.queueSize)"])
        }
        wake.signal()
    }

    /// Records a source's availability; published (retained) now if connected, else at the next connection.
    public func setAvailability(_ source: String, online: Bool) {
        let changed = state.withLock { s -> Bool in
            guard s.availability[source] != online else { return false }
            s.availability[source] = online
            s.dirty.insert(source)
            return true
        }
        if changed { wake.signal() }
    }

    /// Starts the network thread (once).
    public func start() {
        let first = state.withLock { s -> Bool in defer { s.started = true }; return !s.started }
        guard first else { return }
        let thread = Thread { [self] in
            networkLoop()
            finished.signal()
        }
        thread.name = "segstream.mqtt"
        thread.start()
    }

    /// Marks every source and the daemon `offline` (retained), sends what is queued, disconnects cleanly (so the
    /// broker does not publish the will: the retained `offline` already says it), and ends the network thread;
    /// waits at most `timeout`.
    public func stop(timeout: Duration = .seconds(3)) {
        let started = state.withLock { s -> Bool in
            s.stopping = true
            for name in s.availability.keys where s.availability[name] == true {
                s.availability[name] = false
                s.dirty.insert(name)
            }
            return s.started
        }
        guard started else { return }
        wake.signal()
        if finished.wait(timeout: .now() + .nanoseconds(Int(Backoff.nanoseconds(timeout)))) == .timedOut {
            logger.warning("mqtt: the broker connection did not close within \(timeout)")
        }
    }

    // MARK: - The network thread

    private static let libraryReady: Bool = {
        mosquitto_lib_init()
        return true
    }()

    private func networkLoop() {
        _ = Self.libraryReady
        guard let mosq = mosquitto_new(clientID, true, Unmanaged.passUnretained(self).toOpaque()) else {
            logger.error("mqtt: cannot create a client (out of memory)")
            return
        }
        defer { mosquitto_destroy(mosq) }
        mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311))
        let offline = Array("offline".utf8)
        mosquitto_will_set(mosq, daemonTopic, Int32(offline.count), offline, 1, true)
        if let username = settings.username {
            mosquitto_username_pw_set(mosq, username, settings.password)
        }
        mosquitto_connect_callback_set(mosq) { _, object, code in
            let me = Unmanaged<MQTTPublisher>.fromOpaque(object!).takeUnretainedValue()
            me.state.withLock { $0.connack = code }
        }
        mosquitto_disconnect_callback_set(mosq) { _, object, _ in
            let me = Unmanaged<MQTTPublisher>.fromOpaque(object!).takeUnretainedValue()
            me.state.withLock { $0.connected = false }
        }

        var backoff = Backoff(settings: BackoffSettings(initial: backoffSettings.initial, cap: backoffSettings.cap))
        var rng = SystemRandomNumberGenerator()
        var limiter = LogRateLimiter()
        let endpoint = "\(settings.host):\(settings.port)"
        let keepalive = Int32(max(5, min(65535, settings.keepalive.components.seconds)))

        /// Waits the next backoff delay (or until stopping); false when stopping.
        func backOff(_ reason: String) -> Bool {
            state.withLock { $0.connected = false; $0.connack = nil }
            let delay = backoff.nextDelay(using: &rng)
            if case .log(let suppressed) = limiter.check("mqtt", at: MonotonicClock.now()) {
                let extra = suppressed > 0 ? " (\(suppressed) similar messages suppressed)" : ""
                logger.warning("mqtt: broker \(endpoint): \(reason); retrying in \(String(format: "%.1f", delay.seconds)) s\(extra)")
            }
            let deadline = DispatchTime.now() + .nanoseconds(Int(Backoff.nanoseconds(delay)))
            while DispatchTime.now() < deadline {
                if state.withLock({ $0.stopping }) { return false }
                _ = wake.wait(timeout: deadline)
            }
            return !state.withLock { $0.stopping }
        }

        var socketOpen = false
        while true {
            let stopping = state.withLock { $0.stopping }
            if !socketOpen {
                if stopping { return }
                let rc = mosquitto_connect(mosq, settings.host, Int32(settings.port), keepalive)
                guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                    if !backOff(Self.describe(rc)) { return }
                    continue
                }
                socketOpen = true
            }
            if stopping && state.withLock({ $0.connected }) {
                flushAndDisconnect(mosq)
                return
            } else if stopping && state.withLock({ $0.connack == nil }) {
                return  // never got through: nothing to say goodbye to
            }
            let rc = mosquitto_loop(mosq, 50, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                socketOpen = false
                // A refusal (bad credentials, a banned id) ends the loop too; its CONNACK code says why.
                let refusal = state.withLock { $0.connack }.flatMap { $0 == 0 ? nil : $0 }
                let reason = refusal.map { "refused the connection: \(String(cString: mosquitto_connack_string($0)))" }
                    ?? Self.describe(rc)
                if !backOff(reason) { return }
                continue
            }
            // CONNACK: accepted (announce everything again) or refused (back off; a bad password stays bad).
            let (code, announced) = state.withLock { s -> (Int32?, Bool) in (s.connack, s.connected) }
            if let code, !announced {
                if code != 0 {
                    mosquitto_disconnect(mosq)
                    socketOpen = false
                    if !backOff("refused the connection: \(String(cString: mosquitto_connack_string(code)))") { return }
                    continue
                }
                let count = state.withLock { s -> Int in
                    s.connected = true
                    s.connections += 1
                    s.dirty = Set(s.availability.keys)
                    return s.connections
                }
                backoff.reset()
                logger.notice("mqtt: connected to \(endpoint)", metadata: ["client_id": "\(clientID)", "connection": "\(count)"])
                sendRetained(mosq, daemonTopic, "online")
            }
            // Queued messages wait at most one turn of the loop (its select sleeps up to 50 ms on the socket).
            if state.withLock({ $0.connected }) { drain(mosq) }
        }
    }

    /// Publishes the dirty availability states, then the queued messages, until the queue is empty or the
    /// connection fails (a message that could not be handed over goes back to the front).
    private func drain(_ mosq: OpaquePointer) {
        let states = state.withLock { s -> [(String, Bool)] in
            defer { s.dirty.removeAll() }
            return s.dirty.sorted().compactMap { name in s.availability[name].map { (name, $0) } }
        }
        for (name, online) in states {
            if !sendRetained(mosq, topic(name, "availability"), online ? "online" : "offline") {
                _ = state.withLock { $0.dirty.insert(name) }
            }
        }
        while let message = state.withLock({ s in s.queue.isEmpty ? nil : s.queue.removeFirst() }) {
            let bytes = Array(message.payload.utf8)
            let rc = mosquitto_publish(mosq, nil, message.topic, Int32(bytes.count), bytes, Int32(settings.qos), false)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                state.withLock { $0.queue.insert(message, at: 0) }
                return
            }
            state.withLock { $0.published += 1 }
        }
    }

    @discardableResult
    private func sendRetained(_ mosq: OpaquePointer, _ topic: String, _ payload: String) -> Bool {
        let bytes = Array(payload.utf8)
        let ok = mosquitto_publish(mosq, nil, topic, Int32(bytes.count), bytes, 1, true) == MOSQ_ERR_SUCCESS.rawValue
        if ok { state.withLock { $0.published += 1 } }
        return ok
    }

    /// Shutdown: every source's `offline`, the queue, the daemon's `offline`, then DISCONNECT once the socket has
    /// written them (at most 1 s).
    private func flushAndDisconnect(_ mosq: OpaquePointer) {
        drain(mosq)
        sendRetained(mosq, daemonTopic, "offline")
        let deadline = MonotonicClock.now() + .seconds(1)
        while MonotonicClock.now() < deadline && mosquitto_want_write(mosq) {
            if mosquitto_loop(mosq, 20, 1) != MOSQ_ERR_SUCCESS.rawValue { break }
        }
        // QoS 1 acknowledgements: a few more turns of the loop, then the goodbye.
        for _ in 0..<5 where mosquitto_loop(mosq, 20, 1) == MOSQ_ERR_SUCCESS.rawValue {}
        mosquitto_disconnect(mosq)
        _ = mosquitto_loop(mosq, 20, 1)
        logger.notice("mqtt: disconnected", metadata: ["published": "\(publishedMessages)", "dropped": "\(droppedMessages)"])
    }

    private static func describe(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_ERRNO.rawValue { return String(cString: strerror(errno)) }
        return String(cString: mosquitto_strerror(rc))
    }
}
