// swift-tools-version: 6.1
// segstream: real-time semantic segmentation of street video on a CPU.
// Layering, bottom to top: CFFmpeg/CBLAS (system libraries) → CSegKernels (C micro-kernels, one file per
// ISA, scalar reference beside each) → SegEngine (tensors, layers, quantization, model files) → SFNet →
// SegMedia (FFmpeg demux/decode/scale/encode) → SegPipeline (stream pipeline, sinks, metrics) → segstream
// (the CLI). Each target declares exactly the modules it imports.
import PackageDescription

// C kernels are always optimised: debug builds would otherwise run them at -O0 and tests would crawl.
let kernelCFlags: [CSetting] = [.unsafeFlags(["-O2", "-fno-math-errno"]), .define("_GNU_SOURCE")]

let package = Package(
    name: "segstream",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "segstream", targets: ["segstream"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev", "libavdevice-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .target(name: "CSegKernels", cSettings: kernelCFlags, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "SegEngine", dependencies: ["CSegKernels", "CBLAS"]),
        .target(name: "SFNet", dependencies: ["SegEngine", "CSegKernels"]),
        .target(name: "SegMedia", dependencies: ["CFFmpeg", "CSegKernels", "SegEngine"]),
        // Panoptic segmentation from label maps: connected components, the semantic/instance fusion, stable
        // instance ids, the COCO/Cityscapes panoptic format and PQ (issue #14). Pure Swift, no dependencies.
        .target(name: "SegPanoptic"),
        .target(
            name: "SegPipeline",
            dependencies: [
                "SFNet", "SegMedia", "SegEngine", "CSegKernels", "SegPanoptic",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        // `segstream serve`: config, reconnection state machine, systemd integration, MQTT (docs/mqtt.md), sharding
        // (docs/scaling.md), the daemon (docs/serve.md).
        .target(
            name: "SegServe",
            dependencies: [
                "SegPipeline", "SegMedia", "SFNet", "CSystemd", "CMalloc", "CMosquitto", .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        // `serve`'s HTTP side: /metrics (Prometheus), /healthz, /readyz, /api/sources and the live status page
        // (docs/http.md).
        .target(
            name: "SegServeHTTP",
            dependencies: [
                "SegServe", "SegPipeline", "SegMedia", "SegEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "segstream",
            dependencies: [
                "SegPipeline", "SFNet", "SegMedia", "SegEngine", "SegServe", "SegServeHTTP", "SegPanoptic",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Release-only fp32 timing harness (bench/fp32_bench.sh); not part of the product.
        .executableTarget(name: "SegBench", dependencies: ["SFNet", "SegEngine"]),
        // libFuzzer targets for the model loader and the video source (bench/fuzz.sh); a replay tool otherwise.
        .executableTarget(name: "SegFuzz", dependencies: ["SFNet", "SegEngine", "SegMedia"]),
        // Release-only panoptic timing (fusion, components, tracking) on real label maps: bench/panoptic.sh.
        .executableTarget(name: "SegPanopticBench", dependencies: ["SegPanoptic", "SegMedia"]),
        .testTarget(name: "SegKernelsTests", dependencies: ["CSegKernels"]),
        .testTarget(name: "SegPanopticTests", dependencies: ["SegPanoptic"]),
        .testTarget(name: "SegEngineTests", dependencies: ["SegEngine"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SFNetTests", dependencies: ["SFNet", "SegEngine", "CSegKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SegMediaTests", dependencies: ["SegMedia", "CFFmpeg", "CSegKernels"]),
        .testTarget(
            name: "SegPipelineTests",
            dependencies: [
                "SegPipeline", "SFNet", "SegMedia", "SegEngine", "CSegKernels",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "SegServeTests", dependencies: ["SegServe", .product(name: "Logging", package: "swift-log")],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SegServeHTTPTests",
            dependencies: ["SegServeHTTP", "SegServe", "SegPipeline", "SFNet", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "segstreamTests", dependencies: ["SegMedia", "CSegKernels"]),
    ]
)
