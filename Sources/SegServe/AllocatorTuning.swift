import CMalloc

/// glibc malloc settings for a daemon that runs for months and opens a new connection, with new threads and new
/// frame buffers, every time a camera comes back.
///
/// Measured with `bench/serve_soak.sh 12 30 4` (4 RTSP cameras, one restarted every 30 s; bench/results/serve.md):
/// with glibc's defaults resident memory grew 35 % in 12 minutes while the heap in use stayed level (heaptrack: no
/// growth across connections, nothing leaked at exit). Two allocator behaviours held the freed memory:
/// - every new thread may get its own arena (up to 8 per core), and each arena keeps its freed chunks;
/// - after a large buffer is freed, glibc raises its mmap threshold to that size, so later frame-sized buffers
///   come from the arenas instead of mmap and stay there, fragmented, after they are freed.
/// Two arenas and a fixed 256 KiB mmap threshold (frame buffers are mapped and unmapped, returned to the kernel
/// at once) kept it flat: +3 % in the same 12 minutes, all of it in the first 5.
///
/// Even so, the second arena's heap crept (+2.7 MiB in 8 minutes of a one-hour soak, 0.25 MiB a minute in RSS)
/// while heaptrack showed the heap in use flat over 10 minutes (median 113.5-113.8 MiB, 4 cameras, 9 restarts):
/// freed chunks between live ones, which the heap's top cannot give back. ``releaseFreeMemory()`` returns those
/// free pages to the kernel; the daemon calls it once a minute.
public enum AllocatorTuning {
    public static let arenaLimit: Int32 = 2
    public static let mmapThresholdBytes: Int32 = 256 << 10

    /// Applies the settings, except those the operator set through glibc's environment variables
    /// (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`), which win. Returns the settings applied, for the log.
    @discardableResult
    public static func applyForLongRunningDaemon(environment: [String: String]) -> [String] {
        var applied: [String] = []
        if environment["MALLOC_ARENA_MAX"] == nil, mallopt(M_ARENA_MAX, arenaLimit) == 1 {
            applied.append("arenas \(arenaLimit)")
        }
        if environment["MALLOC_MMAP_THRESHOLD_"] == nil, mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes) == 1 {
            applied.append("mmap threshold \(mmapThresholdBytes >> 10) KiB")
        }
        return applied
    }

    /// Gives the kernel back every whole free page in every arena (`malloc_trim(0)`, which since glibc 2.8 also
    /// releases free pages in the middle of a heap, not only at its top). Costs about a walk over the free
    /// chunks; the daemon's loop calls it once a minute.
    public static func releaseFreeMemory() {
        _ = malloc_trim(0)
    }
}
