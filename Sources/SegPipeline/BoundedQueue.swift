import Foundation

/// What a full queue does with one more element.
public enum QueueOverflowPolicy: String, Sendable {
    /// The producer waits for room: every element is delivered.
    case wait
    /// The oldest queued element is evicted (and counted): the consumer always gets the freshest.
    case dropOldest
}

/// A blocking, bounded FIFO between two pipeline stages, each running on its own thread.
///
/// `push` either waits for room (`.wait`: files, where every frame matters) or evicts the oldest queued
/// element (`.dropOldest`: live sources, where latency matters more than completeness). Evicted elements
/// are handed back to the caller so their buffers can be recycled, and every eviction is counted.
///
/// With `.dropOldest` and an `isStale` rule the bound is an age, not a count: a burst (a reconnect's probe
/// backlog, network jitter) waits its turn as long as its oldest element is fresh, while elements that went
/// stale are evicted (counted) on `push` and skipped on `pop`, down to the newest one; `capacity` then only
/// bounds memory.
///
/// `@unchecked Sendable`: every stored property is read and written only under `condition`'s lock, and the
/// elements are themselves Sendable.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    public typealias OverflowPolicy = QueueOverflowPolicy

    public let capacity: Int
    public let policy: OverflowPolicy
    private var items: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false
    private var droppedCount = 0
    private let condition = NSCondition()
    private let isStale: (@Sendable (Element) -> Bool)?
    private let onDrop: (@Sendable () -> Void)?

    /// `isStale` (only with `.dropOldest`) is asked about the oldest element under the queue's lock; `onDrop`
    /// is called once per evicted element, also under the lock (count it; do not call back into the queue).
    public init(capacity: Int, policy: OverflowPolicy, isStale: (@Sendable (Element) -> Bool)? = nil,
                onDrop: (@Sendable () -> Void)? = nil) {
        precondition(capacity > 0, "a queue needs room for at least one element")
        precondition(isStale == nil || policy == .dropOldest, "only a dropping queue can evict stale elements")
        self.capacity = capacity
        self.policy = policy
        self.items = Array(repeating: nil, count: capacity)
        self.isStale = isStale
        self.onDrop = onDrop
    }

    /// Removes and returns the oldest element, counting it as dropped. Caller holds the lock; count > 0.
    private func evictOldest() -> Element? {
        let evicted = items[head]
        items[head] = nil
        head = (head + 1) % capacity
        count -= 1
        droppedCount += 1
        onDrop?()
        return evicted
    }

    /// Evicts stale elements from the head while more than `keep` remain. Caller holds the lock.
    private func evictStale(keeping keep: Int) -> Element? {
        guard let isStale else { return nil }
        var last: Element?
        while count > keep, let oldest = items[head], isStale(oldest) { last = evictOldest() }
        return last
    }

    /// The result of `push`.
    public enum PushResult {
        case queued
        /// Queued after evicting older elements (full, or stale); the last one evicted is returned for recycling.
        case queuedDropping(Element)
        /// The queue was closed; the element was not queued and is returned.
        case closed(Element)
    }

    @discardableResult
    public func push(_ element: Element) -> PushResult {
        condition.lock()
        defer { condition.unlock() }
        var evicted = closed ? nil : evictStale(keeping: 0)
        while count == capacity && !closed {
            if policy == .dropOldest {
                evicted = evictOldest()
            } else {
                condition.wait()
            }
        }
        if closed { return .closed(element) }
        items[(head + count) % capacity] = element
        count += 1
        condition.broadcast()
        return evicted.map { .queuedDropping($0) } ?? .queued
    }

    /// The oldest element, waiting for one; nil once the queue is closed and drained.
    public func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed { condition.wait() }
        guard count > 0 else { return nil }
        _ = evictStale(keeping: 1)
        let element = items[head]
        items[head] = nil
        head = (head + 1) % capacity
        count -= 1
        condition.broadcast()
        return element
    }

    /// No more pushes: consumers drain what is queued, then `pop` returns nil.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Elements evicted by `.dropOldest` so far (full or stale).
    public var dropped: Int {
        condition.lock()
        defer { condition.unlock() }
        return droppedCount
    }

    /// Elements waiting now.
    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }
}
