import Dispatch

/// Where the status server's tasks run: a dispatch queue of its own instead of Swift concurrency's global
/// executor, whose threads (one per core) anything blocking in the process can hold. A request is then answered
/// while other work waits, as a liveness probe must be (measured: with the test suite's blocking tests holding
/// both cooperative threads of this 2-core machine, `/healthz` went unanswered for 10 s).
final class HTTPTaskExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "segstream.http", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
