import Foundation
import Testing
@testable import SegServe

/// The fixtures folder copied next to this test bundle.
enum Fixture {
    static let directory = Bundle.module.resourceURL!.appendingPathComponent("Fixtures").path
    static func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
}

/// Parses `yaml` as `test.yaml` with the given environment; every file exists unless listed in `missing`.
func parse(_ yaml: String, environment: [String: String] = [:], sources: [String] = [], stateDir: String? = nil,
           missing: Set<String> = []) throws(ConfigError) -> ServeConfig {
    try ServeConfig.parse(yaml: yaml, file: "test.yaml", baseDirectory: "/etc/segstream", commandLineSources: sources,
                          stateDirectory: stateDir, environment: environment, fileExists: { !missing.contains($0) })
}

/// The problem lines `yaml` produces (empty when it is valid).
func problems(_ yaml: String, environment: [String: String] = [:], sources: [String] = [],
              missing: Set<String> = []) -> [String] {
    do {
        _ = try parse(yaml, environment: environment, sources: sources, missing: missing)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}

@Suite("ServeConfig: parsing, defaults, merging")
struct ServeConfigParsingTests {
    @Test("the complete fixture: every section read, defaults merged under each source's own values")
    func goodFixture() throws {
        let config = try ServeConfig.load(file: Fixture.path("good.yaml"), environment: ["CAM_PASSWORD": "s3cret"],
                                          fileExists: { $0.hasPrefix(Fixture.directory) })
        #expect(config.stateDirectory == "/srv/segstream")
        #expect(config.backoff == BackoffSettings(initial: .milliseconds(500), cap: .seconds(60),
                                                  stableReset: .seconds(120), maxRetries: 10))
        #expect(config.sources.map(\.name) == ["front", "yard", "replay"])
        let front = config.sources[0], yard = config.sources[1], replay = config.sources[2]

        #expect(front.url == "rtsp://admin:s3cret@192.0.2.10:554/stream1")
        #expect(front.redactedURL == "rtsp://admin:***@192.0.2.10:554/stream1")
        #expect(front.kind == .rtsp)
        #expect(front.network == .size(width: 1024, height: 512))  // its own size wins over the defaults' scale
        #expect(front.precision == .int8)
        #expect(front.fps == 5)
        #expect(front.drop == .oldest)
        #expect(front.stallTimeout == .seconds(15))
        var frontRecording = RecordingOutput()
        frontRecording.format = .mkv
        frontRecording.segment = .seconds(60)  // its own segment, the defaults' format and retention
        frontRecording.keepCount = 100
        frontRecording.keepAge = .seconds(2 * 86_400)
        #expect(front.recording == frontRecording)
        var json = JSONLinesOutput()
        json.rotateSize = 32 << 20
        json.keep = 3
        #expect(front.jsonLines == json)
        #expect(front.masks == nil)

        #expect(yard.url == "http://192.0.2.11/live/index.m3u8")  // the `name: URL` short form
        #expect(yard.kind == .http)
        #expect(yard.network == .scale(0.5))
        #expect(yard.recording?.segment == .seconds(600))

        #expect(replay.kind == .file)
        #expect(replay.url == Fixture.path("clip.mp4"))  // relative to the config file
        #expect(replay.model == Fixture.path("model.safetensors"))
        #expect(replay.loop)
        #expect(replay.fps == nil)  // `fps: all` undoes the defaults' 5
        #expect(replay.drop == .wait)
        #expect(replay.recording == nil)
        var masks = MaskOutput()
        masks.every = 10
        #expect(replay.masks == masks)
        #expect(config.directory(of: replay) == "/srv/segstream/replay")
    }

    @Test("a source with only a url gets every default; live sources drop, files wait")
    func builtInDefaults() throws {
        let config = try parse("""
            sources:
              cam: rtsp://192.0.2.1/s
              usb: /dev/video2
              clip: {url: /data/clip.mp4}
            """)
        let cam = config.sources[0]
        #expect(cam.network == .scale(1))
        #expect(cam.precision == nil && cam.model == nil && cam.fps == nil && !cam.loop)
        #expect(cam.stallTimeout == .seconds(20))
        #expect(cam.recording == RecordingOutput())
        #expect(cam.recording?.format == .mp4 && cam.recording?.segment == .seconds(300))
        #expect(cam.recording?.keepCount == 288 && cam.recording?.keepAge == .seconds(86_400))
        #expect(cam.jsonLines?.rotateSize == 64 << 20 && cam.jsonLines?.keep == 10)
        #expect(cam.masks == nil)
        #expect(config.sources.map(\.kind) == [.rtsp, .device, .file])
        #expect(config.sources.map(\.drop) == [.oldest, .oldest, .wait])
        #expect(config.backoff == BackoffSettings(initial: .seconds(1), cap: .seconds(30), stableReset: .seconds(60),
                                                  maxRetries: nil))
        #expect(config.stateDirectory == "/var/lib/segstream")
    }

    @Test("state_dir: systemd's STATE_DIRECTORY, then the file's, then --state-dir")
    func stateDirectoryPrecedence() throws {
        let yaml = "sources: {a: rtsp://192.0.2.1/}"
        #expect(try parse(yaml, environment: ["STATE_DIRECTORY": "/var/lib/segstream-x"]).stateDirectory
                == "/var/lib/segstream-x")
        #expect(try parse("state_dir: /srv/a\n" + yaml, environment: ["STATE_DIRECTORY": "/x"]).stateDirectory == "/srv/a")
        #expect(try parse("state_dir: /srv/a\n" + yaml, stateDir: "/srv/b").stateDirectory == "/srv/b")
        let relative = try parse(yaml, stateDir: "out").stateDirectory
        #expect(relative == FileManager.default.currentDirectoryPath + "/out")
    }

    @Test("an explicit drop policy, precision, model and recording retention override the kind's defaults")
    func explicitValues() throws {
        let config = try parse("""
            sources:
              clip:
                url: file:///data/clip.mkv
                drop: oldest
                precision: FP32
                model: /models/m.safetensors
                outputs:
                  recording: {keep_count: none, keep_age: 12h}
                  json: {enabled: false}
            """)
        let clip = config.sources[0]
        #expect(clip.url == "/data/clip.mkv" && clip.kind == .file)
        #expect(clip.drop == .oldest && clip.precision == .fp32 && clip.model == "/models/m.safetensors")
        #expect(clip.recording?.keepCount == nil && clip.recording?.keepAge == .seconds(43_200))
        #expect(clip.jsonLines == nil)
    }

    @Test("durations", arguments: [
        ("500ms", Duration.milliseconds(500)), ("1s", .seconds(1)), ("1.5s", .milliseconds(1500)), ("5m", .seconds(300)),
        ("2h", .seconds(7200)), ("1d", .seconds(86_400)), ("7", .seconds(7)), ("0.25", .milliseconds(250)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(ConfigParser.parseDuration(text) == expected)
    }

    @Test("not durations", arguments: ["", "s", "fast", "5 minutes", "-1s", "1w", "inf"])
    func notDurations(text: String) {
        #expect(ConfigParser.parseDuration(text) == nil)
    }

    @Test("byte sizes", arguments: [("64MiB", 64 << 20), ("100MB", 100_000_000), ("1GiB", 1 << 30), ("4KiB", 4096),
                                    ("8192", 8192), ("2GB", 2_000_000_000)])
    func byteSizes(text: String, expected: Int) throws {
        let config = try parse("sources: {a: {url: rtsp://h/, outputs: {json: {rotate_size: \"\(text)\"}}}}")
        #expect(config.sources[0].jsonLines?.rotateSize == expected)
    }

    @Test("fps, scale and size bounds")
    func numericBounds() throws {
        #expect(try parse("sources: {a: {url: rtsp://h/, fps: 0.5, scale: 4}}").sources[0].fps == 0.5)
        #expect(try parse("sources: {a: {url: rtsp://h/, size: 32X8192}}").sources[0].network
                == .size(width: 32, height: 8192))
        #expect(problems("sources: {a: {url: rtsp://h/, fps: 0}}")
                == ["test.yaml:1: source a: fps: must be above 0 and at most 240 (or \"all\"), got 0"])
        #expect(problems("sources: {a: {url: rtsp://h/, fps: 241}}")
                == ["test.yaml:1: source a: fps: must be above 0 and at most 240 (or \"all\"), got 241"])
        #expect(problems("sources: {a: {url: rtsp://h/, scale: 0}}")
                == ["test.yaml:1: source a: scale: must be above 0 and at most 4, got 0"])
        #expect(problems("sources: {a: {url: rtsp://h/, size: 31x100}}")
                == ["test.yaml:1: source a: size: expected WIDTHxHEIGHT, each 32 to 8192 (e.g. 1024x512), got \"31x100\""])
        #expect(problems("sources: {a: {url: rtsp://h/, size: 640}}")
                == ["test.yaml:1: source a: size: expected WIDTHxHEIGHT, each 32 to 8192 (e.g. 1024x512), got \"640\""])
        #expect(try parse("sources: {a: {url: rtsp://h/}}").sources[0].maxWait == .seconds(1))
        #expect(try parse("defaults: {max_wait: 0}\nsources: {a: {url: rtsp://h/}, b: {url: rtsp://h/, max_wait: 250ms}}")
                .sources.map(\.maxWait) == [.zero, .milliseconds(250)])
        #expect(problems("sources: {a: {url: rtsp://h/, max_wait: 11s}}")
                == ["test.yaml:1: source a: max_wait: expected a duration from 0 to 10s such as 0, 500ms or 1s, got \"11s\""])
    }

    @Test("backoff: max_retries forever or a count; initial above cap is a problem")
    func backoff() throws {
        let yaml = "sources: {a: rtsp://h/}\n"
        #expect(try parse("backoff: {max_retries: forever}\n" + yaml).backoff.maxRetries == nil)
        #expect(try parse("backoff: {max_retries: 0}\n" + yaml).backoff.maxRetries == 0)
        #expect(problems("backoff: {initial: 2s, cap: 1s}\n" + yaml)
                == ["test.yaml:1: backoff.cap: must be at least backoff.initial (2s)"])
        #expect(problems("backoff: {initial: 0s}\n" + yaml)
                == ["test.yaml:1: backoff.initial: expected a duration above zero such as 500ms, 1s, 5m, 2h or 1d, got \"0s\""])
        #expect(problems("backoff: 5\n" + yaml)
                == ["test.yaml:1: backoff: expected a mapping (initial, cap, stable_reset, max_retries)"])
    }
}

@Suite("ServeConfig: every problem, one line each")
struct ServeConfigProblemTests {
    @Test("the bad fixture: all problems, sorted by line, each with its line, secrets hidden")
    func badFixture() throws {
        let file = Fixture.path("bad.yaml")
        let error = #expect(throws: ConfigError.self) {
            try ServeConfig.load(file: file, environment: [:], fileExists: { _ in true })
        }
        let lines = try #require(error).problems.map { $0.description.replacingOccurrences(of: file, with: "bad.yaml") }
        #expect(lines == [
            "bad.yaml:1: state_dir: must be an absolute path, got \"relative/dir\"",
            "bad.yaml:4: backoff.cap: must be at least backoff.initial (10s)",
            "bad.yaml:5: backoff.max_retries: expected a count, or \"forever\" (an integer, at least 0), got \"-1\"",
            "bad.yaml:7: defaults.url: a url belongs to each source, not to defaults",
            "bad.yaml:8: unknown key \"defaults.fsp\" (did you mean \"fps\"?)",
            "bad.yaml:11: source front: url: environment variable UNSET_PASSWORD is not set",
            "bad.yaml:12: source front: fps: expected frames per second above 0, or \"all\", got \"fast\"",
            "bad.yaml:14: source back: url: ftp://user:***@192.0.2.12/cam: unsupported scheme \"ftp\" (rtsp, rtsps, http, https, udp, tcp, a file or /dev/videoN)",
            "bad.yaml:15: source bad name: the name must be 1 to 64 letters, digits, \"-\" or \"_\" (it names a folder and a metric label)",
            "bad.yaml:17: source nourl: url: missing (every source needs a url)",
            "bad.yaml:21: source both: size and scale: give one or the other, not both",
            "bad.yaml:23: source both: loop: only files can loop; /dev/video0 is a live device source",
            "bad.yaml:24: source both: precision: must be one of fp32, int8, got \"fp16\"",
            "bad.yaml:25: source both: drop: must be one of wait, oldest, got \"newest\"",
            "bad.yaml:27: source both: outputs.recording: keep_count and keep_age cannot both be none (the disk would fill up)",
            "bad.yaml:28: source both: outputs.recording.segment: must be between 1s and 24h, got 500ms",
            "bad.yaml:31: source both: outputs.recording.format: must be one of mp4, mkv, got \"avi\"",
            "bad.yaml:33: source both: outputs.json.rotate_size: expected a size of at least 4KiB such as 64MiB or 100MB, got \"12\"",
            "bad.yaml:34: source both: unknown key \"outputs.thumbnails\" (expected one of: recording, json, masks)",
        ])
        #expect(!lines.joined().contains("hunter2"))
    }

    @Test("a missing file is one problem without a line")
    func missingFile() {
        let error = #expect(throws: ConfigError.self) {
            try ServeConfig.load(file: "/nonexistent/segstream.yaml")
        }
        #expect(error?.problems.map(\.description) == ["/nonexistent/segstream.yaml: no such file"])
    }

    @Test("YAML syntax errors and duplicate keys carry the line")
    func yamlErrors() {
        let syntax = problems("sources:\n  a: {url: rtsp://h/\n  b: x\n")
        #expect(syntax.count == 1)
        #expect(syntax.first?.hasPrefix("test.yaml:") == true)
        #expect(syntax.first?.contains("not valid YAML") == true)
        let line = syntax.first.flatMap { Int($0.split(separator: ":")[1]) }
        #expect(line != nil && line! >= 2)
        #expect(problems("sources:\n  a: rtsp://h/\n  a: rtsp://g/\n")
                == ["test.yaml:2: duplicate key \"a\" (each key, and each source name, at most once)"])
    }

    @Test("empty files, wrong shapes and no sources")
    func shapes() {
        #expect(problems("") == ["test.yaml: the file is empty"])
        #expect(problems("- a\n- b\n")
                == ["test.yaml:1: expected a mapping of settings (state_dir, backoff, defaults, sources)"])
        #expect(problems("state_dir: /srv\n")
                == ["test.yaml: no sources: add some under \"sources:\" or pass --source NAME=URL"])
        #expect(problems("sources:\n  - rtsp://h/\n") == ["test.yaml:1: sources: expected a mapping of NAME: {url: …}"])
        #expect(problems("sources: {a: [1, 2]}") == ["test.yaml:1: source a: expected a URL or a mapping of settings with a url"])
        #expect(problems("sources: {a: {url: rtsp://h/, outputs: 3}}")
                == ["test.yaml:1: source a: outputs: expected a mapping (recording, json, masks)"])
        #expect(problems("sources: {a: {url: [rtsp://h/]}}")
                == ["test.yaml:1: source a: url: expected a single value, not a list or mapping"])
        #expect(problems("sources: {a: {url: rtsp://h/, loop: maybe}}")
                == ["test.yaml:1: source a: loop: expected true or false, got \"maybe\""])
    }

    @Test("unknown keys: a close name is suggested, otherwise the allowed ones are listed")
    func unknownKeys() {
        #expect(problems("sourcs: {}\nsources: {a: rtsp://h/}")
                == ["test.yaml:1: unknown key \"sourcs\" (did you mean \"sources\"?)"])
        #expect(problems("sources: {a: {url: rtsp://h/, colour: red}}")
                == ["test.yaml:1: source a: unknown key \"colour\" (expected one of: url, loop, size, scale, precision, model, fps, drop, max_wait, stall_timeout, outputs, events)"])
        #expect(problems("sources: {a: {url: rtsp://h/, outputs: {masks: {evry: 2}}}}")
                == ["test.yaml:1: source a: unknown key \"outputs.masks.evry\" (did you mean \"every\"?)"])
    }

    @Test("URLs: every kind is accepted; bad ones are problems, shown redacted")
    func urls() throws {
        let config = try parse("""
            sources:
              a: rtsps://u:p@cam.example:322/x
              b: https://h/live.m3u8?token=abc
              c: udp://@239.0.0.1:1234
              d: tcp://0.0.0.0:9000?listen
              e: rtsp://[2001:db8::1]:554/s
            """)
        #expect(config.sources.map(\.kind) == [.rtsp, .http, .udp, .tcp, .rtsp])
        #expect(config.sources[1].redactedURL == "https://h/live.m3u8?token=***")
        #expect(problems("sources: {a: rtsp://user:pw@/x}") == ["test.yaml:1: source a: url: rtsp://user:***@/x: no host"])
        #expect(problems("sources: {a: 'udp://239.0.0.1'}")
                == ["test.yaml:1: source a: url: udp://239.0.0.1: udp needs a port (udp://HOST:PORT)"])
        #expect(problems("sources: {a: 'rtsp://h:99999/'}") == ["test.yaml:1: source a: url: rtsp://h:99999/: the port must be 1 to 65535"])
        #expect(problems("sources: {a: /dev/sda}")
                == ["test.yaml:1: source a: url: /dev/sda: only V4L2 devices /dev/videoN can be read from /dev"])
        #expect(problems("sources: {a: 'file://rel/x.mp4'}")
                == ["test.yaml:1: source a: url: file://rel/x.mp4: a file:// URL needs an absolute path"])
        #expect(problems("sources:\n  a:\n    url: clips/x.mp4\n", missing: ["/etc/segstream/clips/x.mp4"])
                == ["test.yaml:3: source a: url: no such file: /etc/segstream/clips/x.mp4"])
        #expect(problems("sources:\n  a:\n    url: rtsp://h/\n    model: ../m.safetensors\n", missing: ["/etc/m.safetensors"])
                == ["test.yaml:4: source a: model: no such file: /etc/m.safetensors"])
    }

    @Test("a problem in a value from defaults points at the defaults' line")
    func defaultsLines() {
        #expect(problems("defaults:\n  loop: true\nsources:\n  a: rtsp://h/\n")
                == ["test.yaml:2: source a: loop: only files can loop; rtsp://h/ is a live rtsp source"])
        #expect(problems("defaults:\n  fps: -3\nsources:\n  a: rtsp://h/\n")
                == ["test.yaml:2: defaults.fps: must be above 0 and at most 240 (or \"all\"), got -3"])
    }
}

@Suite("ServeConfig: ${ENV} interpolation")
struct InterpolationTests {
    @Test("variables are substituted, $${ is a literal ${, a lone $ stays")
    func substitution() {
        let env = ["USER_1": "admin", "PASS": "p@ss:w/rd", "EMPTY": ""]
        #expect(Interpolation.expand("rtsp://${USER_1}:${PASS}@h/", environment: env).0 == "rtsp://admin:p@ss:w/rd@h/")
        #expect(Interpolation.expand("a$${B}c", environment: env) == ("a${B}c", []))
        #expect(Interpolation.expand("cost $5 and $x", environment: env) == ("cost $5 and $x", []))
        #expect(Interpolation.expand("x${EMPTY}y", environment: env) == ("xy", []))
    }

    @Test("every unset variable, bad name and unterminated reference is reported")
    func failures() {
        #expect(Interpolation.expand("${A}${B}", environment: [:]).1 == [.unset("A"), .unset("B")])
        #expect(Interpolation.expand("${1X}", environment: ["1X": "v"]).1 == [.badName("1X")])
        #expect(Interpolation.expand("${}", environment: [:]).1 == [.badName("")])
        #expect(Interpolation.expand("abc${OPEN", environment: ["OPEN": "v"]).1 == [.unterminated])
    }

    @Test("in a config: substituted in values, reported with the line, never echoing a value")
    func inConfig() throws {
        let yaml = "sources:\n  a:\n    url: rtsp://u:${PW}@h/\n    fps: ${FPS}\n"
        let config = try parse(yaml, environment: ["PW": "topsecret", "FPS": "2.5"])
        #expect(config.sources[0].url == "rtsp://u:topsecret@h/" && config.sources[0].fps == 2.5)
        #expect(problems(yaml, environment: ["FPS": "2"]) == ["test.yaml:3: source a: url: environment variable PW is not set"])
        #expect(problems(yaml, environment: ["PW": "x"]) == ["test.yaml:4: source a: fps: environment variable FPS is not set"])
        // Keys are not interpolated; a value cannot inject YAML structure.
        let injected = try parse("sources:\n  a: ${URL}\n", environment: ["URL": "rtsp://h/\nb: rtsp://g/"])
        #expect(injected.sources.count == 1)
        #expect(problems("sources: {a: {url: rtsp://h/, fps: '$${X}'}}")
                == ["test.yaml:1: source a: fps: expected frames per second above 0, or \"all\", got \"${X}\""])
    }
}

@Suite("ServeConfig: --source NAME=URL")
struct CommandLineSourceTests {
    @Test("sources from the command line alone get every default")
    func commandLineOnly() throws {
        let config = try ServeConfig.fromCommandLine(sources: ["cam=rtsp://u:p@192.0.2.1/s", "usb=/dev/video0"],
                                                     stateDirectory: "/tmp/seg-state", environment: [:])
        #expect(config.sources.map(\.name) == ["cam", "usb"])
        #expect(config.sources.map(\.kind) == [.rtsp, .device])
        #expect(config.sources[0].url == "rtsp://u:p@192.0.2.1/s")  // `=` in the URL is kept: split at the first
        #expect(config.stateDirectory == "/tmp/seg-state")
        #expect(try ServeConfig.fromCommandLine(sources: ["q=http://h/x?a=b"], stateDirectory: nil, environment: [:])
                .sources[0].url == "http://h/x?a=b")
    }

    @Test("with a file: the file's defaults apply; names must be new and valid; bad forms are problems")
    func withFile() throws {
        let yaml = "defaults: {fps: 3}\nsources: {a: rtsp://h/}\n"
        let config = try parse(yaml, sources: ["b=rtsp://g/"])
        #expect(config.sources.map(\.name) == ["a", "b"] && config.sources[1].fps == 3)
        #expect(problems(yaml, sources: ["a=rtsp://g/", "novalue", "x y=rtsp://g/", "c=ftp://u:pw@g/"]) == [
            "--source: source a: a source named a is already defined",
            "--source: \"novalue\": expected NAME=URL",
            "--source: source x y: the name must be 1 to 64 letters, digits, \"-\" or \"_\" (it names a folder and a metric label)",
            "--source: source c: url: ftp://u:***@g/: unsupported scheme \"ftp\" (rtsp, rtsps, http, https, udp, tcp, a file or /dev/videoN)",
        ])
        #expect(problems("sources: {a: rtsp://h/}", sources: ["=rtsp://u:secret@g/"])
                == ["--source: \"=rtsp://u:***@g/\": expected NAME=URL"])
        // Command-line sources make an empty `sources:` acceptable.
        #expect(try parse("sources:\n", sources: ["b=rtsp://g/"]).sources.count == 1)
    }
}
