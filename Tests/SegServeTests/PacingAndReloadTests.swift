import Foundation
import SegMedia
import SegPipeline
import Testing
@testable import SegServe

@Suite("FramePacer: at most fps frames a second, evenly spaced, by timestamps")
struct FramePacerTests {
    /// Indices of the frames processed out of `count` frames at `rate` frames a second.
    func kept(count: Int, rate: Double, fps: Double?) -> [Int] {
        var pacer = FramePacer(fps: fps)
        return (0..<count).filter { pacer.shouldProcess(time: Double($0) / rate) }
    }

    @Test("25 fps → 10: frames 0, 3, 5, 8, 10, …: 10 a second, gaps of 2 and 3 frames")
    func twentyFiveToTen() {
        let indices = kept(count: 50, rate: 25, fps: 10)
        #expect(Array(indices.prefix(6)) == [0, 3, 5, 8, 10, 13])
        #expect(indices.count == 20)
        let gaps = zip(indices.dropFirst(), indices).map { $0 - $1 }
        #expect(Set(gaps) == [2, 3])
    }

    @Test("exact divisions keep every n-th frame; fps above the source rate keeps all; nil keeps all",
          arguments: [(30.0, 10.0, 3), (30, 5, 6), (25, 25, 1), (10, 30, 1), (30, 1, 30)])
    func divisions(rate: Double, fps: Double, step: Int) {
        #expect(kept(count: 90, rate: rate, fps: fps) == Array(stride(from: 0, to: 90, by: step)))
    }

    @Test("no limit, no timestamp: every frame")
    func everything() {
        #expect(kept(count: 10, rate: 25, fps: nil) == Array(0..<10))
        var pacer = FramePacer(fps: 1)
        #expect((0..<5).allSatisfy { _ in pacer.shouldProcess(time: nil) })
    }

    @Test("variable frame rate: never two frames in one 1/fps slot, nor closer than half a slot")
    func variableRate() {
        var pacer = FramePacer(fps: 5)
        let times = [0.0, 0.04, 0.12, 0.19, 0.21, 0.5, 0.55, 0.61, 0.99, 1.0, 1.01, 3.0]
        let kept = times.filter { pacer.shouldProcess(time: $0) }
        #expect(kept == [0.0, 0.21, 0.5, 0.61, 0.99, 3.0])  // 1.0: a new slot, but 10 ms after 0.99
    }

    @Test("a timestamp going backwards (a file starting over) starts the slots again")
    func discontinuity() {
        var pacer = FramePacer(fps: 2)
        let times = [0.0, 0.2, 0.5, 0.9, 0.0, 0.1, 0.5, 0.6]
        #expect(times.map { pacer.shouldProcess(time: $0) } == [true, false, true, false, true, false, true, false])
    }
}

@Suite("PacedSource: a served file plays at its own pace, like a camera")
struct PacedSourceTests {
    @Test("a frame arrives at its time, not when it was read ahead: the wait for it is not latency")
    func arrivalIsTheFramesTime() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let input = try VideoSource(root.appendingPathComponent("samples/drive.mp4").path)   // 20 fps
        let source = PacedSource(input: input, fps: nil, name: "cam", progress: SegPipeline.Locked(SourceProgress()), realTime: true,
                                 isStopped: { false })
        let first = try #require(try source.nextFrame())
        for _ in 1...4 {
            let frame = try #require(try source.nextFrame())
            let returned = monotonicSeconds()
            // The file is read (and decoded) ahead of the frame's time: its packet was read before the frame was
            // due, so the arrival is the due time, exactly (or later, were the read ever late).
            let due = first.arrivedAt + (frame.pts - first.pts)
            #expect(frame.arrivedAt >= due - 1e-9 && frame.arrivedAt <= returned, "arrived \(frame.arrivedAt), due \(due)")
        }
    }
}

@Suite("Reload: which sources a new configuration touches")
struct ReloadTests {
    func config(_ yaml: String) throws -> ServeConfig {
        try ServeConfig.parse(yaml: yaml, file: "t.yaml", environment: [:], fileExists: { _ in true })
    }

    @Test("added, removed and changed sources by name; unchanged ones are left alone")
    func changes() throws {
        let old = try config("sources: {a: rtsp://h/a, b: rtsp://h/b, c: rtsp://h/c, d: rtsp://h/d}")
        let new = try config("""
            defaults: {fps: 5}
            sources:
              a: rtsp://h/a
              c: {url: rtsp://h/c, fps: all}
              e: rtsp://h/e
              d: rtsp://h/d2
            """)
        let changes = old.changes(to: new)
        // a takes the new default fps: changed; c states `fps: all`, which equals its old every-frame default.
        #expect(changes == ConfigChanges(added: ["e"], removed: ["b"], changed: ["a", "d"], global: false))
        #expect(old.changes(to: old).isEmpty)
        let moved = try config("state_dir: /srv/x\nsources: {a: rtsp://h/a, b: rtsp://h/b, c: rtsp://h/c, d: rtsp://h/d}")
        #expect(old.changes(to: moved) == ConfigChanges(global: true))
    }
}

@Suite("Recording retention: keep_count and keep_age")
struct RetentionTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func segments(agesInMinutes: [Double]) -> [(name: String, modified: Date)] {
        agesInMinutes.enumerated().map { ("seg\($0.offset).mp4", now.addingTimeInterval(-$0.element * 60)) }
    }

    @Test("by count: the newest keep_count stay, whatever order they are listed in")
    func byCount() {
        var policy = RecordingOutput()
        policy.keepCount = 2
        policy.keepAge = nil
        #expect(Set(policy.expired(segments(agesInMinutes: [10, 0, 30, 20]), now: now)) == ["seg2.mp4", "seg3.mp4"])
    }

    @Test("by age, and both together; the newest segment is kept even when too old")
    func byAge() {
        var policy = RecordingOutput()
        policy.keepCount = nil
        policy.keepAge = .seconds(15 * 60)
        #expect(Set(policy.expired(segments(agesInMinutes: [0, 10, 16, 60]), now: now)) == ["seg2.mp4", "seg3.mp4"])
        #expect(policy.expired(segments(agesInMinutes: [100]), now: now).isEmpty)
        #expect(policy.expired(segments(agesInMinutes: [15]), now: now).isEmpty)
        policy.keepCount = 3
        #expect(Set(policy.expired(segments(agesInMinutes: [0, 1, 2, 3, 20]), now: now)) == ["seg3.mp4", "seg4.mp4"])
    }
}
