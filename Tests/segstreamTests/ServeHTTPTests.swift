import Foundation
import Testing

/// `segstream serve`'s status page (issue #13) in Debian's headless chromium, against the built binary: the page
/// loads offline, shows one tile per source, and the tiles' images change over time (two screenshots compared
/// pixel by pixel). Also the command line's HTTP errors: a taken port (69) and a malformed address (64).
@Suite("segstream serve: HTTP and the status page (#13)", .serialized)
struct ServeHTTPTests {
    static let chromium = "/usr/bin/chromium"

    /// Runs headless chromium on `url` with a private profile; `extra` says what to produce.
    static func chromium(_ extra: [String], _ url: String, profile: URL, budgetMs: Int = 3000) throws -> CLI.Result {
        try CLI.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
                               "--user-data-dir=\(profile.path)", "--window-size=1000,700",
                               "--virtual-time-budget=\(budgetMs)"] + extra + [url], timeout: 60)
    }

    /// A PNG as packed RGB24 (decoded by ffmpeg), with its size.
    static func pixels(_ png: String) throws -> (rgb: [UInt8], width: Int, height: Int) {
        let raw = png + ".rgb"
        try CLI.ffmpeg(["-i", png, "-f", "rawvideo", "-pix_fmt", "rgb24", raw])
        let probe = try CLI.run("/usr/bin/ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                                     "stream=width,height", "-of", "csv=p=0", png])
        let size = probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { Int($0) }
        return (Array(try Data(contentsOf: URL(fileURLWithPath: raw))), size[0], size[1])
    }

    @Test("the status page in headless chromium: one tile per source, and each tile's image changes between two screenshots 2 s apart; a taken port exits 69, a malformed --http 64")
    func statusPage() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.chromium),
                "\(Self.chromium) is missing: install Debian's chromium (tools/install-deps.sh)")
        try #require(FileManager.default.isExecutableFile(atPath: Self.chromium))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-http-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // 320×240: the frame, not the HUD drawn over it, fills most of a tile. 10 s: the screenshots, 3 to 5 s
        // apart, never fall on the same point of the loop.
        let clip = dir.appendingPathComponent("clip.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "10", "-c:v", "libx264",
                        "-preset", "ultrafast", "-g", "25", clip])
        let port = try ServeDaemonTests.freePort()
        let base = "http://127.0.0.1:\(port)"
        let config = dir.appendingPathComponent("serve.yaml").path
        try """
            state_dir: \(dir.appendingPathComponent("state").path)
            defaults: {model: \(CLI.tinyModel), loop: true}
            sources: {left: \(clip), right: \(clip)}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try LiveProcess(["serve", "--config", config, "--http", "127.0.0.1:\(port)"])
        defer {
            kill(daemon.process.processIdentifier, SIGTERM)
            _ = daemon.finish(timeout: 30)
        }
        let profile = dir.appendingPathComponent("profile")

        // The port is taken now: a second daemon on it fails at once with one line.
        var ready = false
        for _ in 0..<20 where !ready {
            ready = try Self.chromium(["--dump-dom"], base + "/readyz", profile: profile, budgetMs: 500).stdout.contains(">ready")
            if !ready { usleep(500_000) }
        }
        try #require(ready, "the daemon never answered /readyz with ready")
        let taken = try CLI.segstream(["serve", "--source", "x=\(clip)", "--state-dir", dir.path, "--http", "127.0.0.1:\(port)"],
                                      timeout: 30)
        #expect(taken.status == 69)
        #expect(taken.stderr == "segstream: http: cannot listen on 127.0.0.1:\(port): Address already in use\n")
        let malformed = try CLI.segstream(["serve", "--source", "x=\(clip)", "--http", "localhost"])
        #expect(malformed.status == 64)
        #expect(malformed.stderr.contains("--http: \"localhost\": expected HOST:PORT"))

        // The page: one tile per source, in the DOM the page's script built.
        let dom = try Self.chromium(["--dump-dom"], base + "/", profile: profile).stdout
        #expect(dom.components(separatedBy: "class=\"tile\"").count - 1 == 2, "tiles in: \(dom.prefix(2000))")
        #expect(dom.contains("data-source=\"left\"") && dom.contains("data-source=\"right\""))
        // Each tile's legend: a swatch in the class's colour and its name, one per class of the model.
        #expect(dom.components(separatedBy: "<span><i style=\"background: rgb(").count - 1 >= 2, "no legend")

        // Two screenshots 2 s apart: the two tiles sit side by side at this width; inside each tile's image
        // (a box well within it), most pixels are lit and many change.
        let first = dir.appendingPathComponent("first.png").path, second = dir.appendingPathComponent("second.png").path
        _ = try Self.chromium(["--screenshot=\(first)"], base + "/", profile: profile)
        usleep(2_000_000)
        _ = try Self.chromium(["--screenshot=\(second)"], base + "/", profile: profile)
        let a = try Self.pixels(first), b = try Self.pixels(second)
        try #require(a.width == 1000 && b.width == 1000 && a.height == b.height)
        // A 4:3 frame is drawn 360 px wide, centred, in each 482 px tile (x 12…494 and 506…988), from y ≈ 87.
        for (name, x0, x1) in [("left", 110, 400), ("right", 604, 894)] {
            var lit = 0, changed = 0, total = 0
            for y in 110..<330 {
                for x in x0..<x1 {
                    let i = (y * a.width + x) * 3
                    total += 1
                    if Int(a.rgb[i]) + Int(a.rgb[i + 1]) + Int(a.rgb[i + 2]) > 60 { lit += 1 }
                    if (0..<3).contains(where: { abs(Int(a.rgb[i + $0]) - Int(b.rgb[i + $0])) > 24 }) { changed += 1 }
                }
            }
            print("status page: tile \(name): \(lit * 100 / total)% lit, \(changed * 100 / total)% changed in 2 s")
            #expect(lit > total / 2, "tile \(name) shows no image")
            #expect(changed > total / 20, "tile \(name)'s image did not change")
        }
    }
}
