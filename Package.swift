// swift-tools-version: 6.1
// segstream: real-time semantic segmentation of street video on a CPU.
// Layering, bottom to top: CFFmpeg/CBLAS (system libraries) → CSegKernels (C micro-kernels, one file per
// ISA, scalar reference beside each) → SegEngine (tensors, layers, quantization, model files) → SFNet →
// SegMedia (FFmpeg demux/decode/scale/encode) → SegPipeline (stages, telemetry) → segstream (the CLI).
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
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev", "libavdevice-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CSegKernels", cSettings: kernelCFlags, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "SegEngine", dependencies: ["CSegKernels", "CBLAS"]),
        .target(name: "SFNet", dependencies: ["SegEngine"]),
        .target(name: "SegMedia", dependencies: ["CFFmpeg", "SegEngine"]),
        .target(
            name: "SegPipeline",
            dependencies: ["SFNet", "SegMedia", "SegEngine", .product(name: "Histogram", package: "hdrhistogram-swift")]),
        .executableTarget(
            name: "segstream",
            dependencies: [
                "SegPipeline", "SFNet", "SegMedia", "SegEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Release-only fp32 timing harness (bench/fp32_bench.sh); not part of the product.
        .executableTarget(name: "SegBench", dependencies: ["SFNet", "SegEngine"]),
        // libFuzzer targets for the model loader and the video source (bench/fuzz.sh); a replay tool otherwise.
        .executableTarget(name: "SegFuzz", dependencies: ["SFNet", "SegEngine", "SegMedia"]),
        .testTarget(name: "SegKernelsTests", dependencies: ["CSegKernels"]),
        .testTarget(name: "SegEngineTests", dependencies: ["SegEngine"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SFNetTests", dependencies: ["SFNet", "SegEngine"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SegMediaTests", dependencies: ["SegMedia"]),
        .testTarget(name: "SegPipelineTests", dependencies: ["SegPipeline"]),
        .testTarget(name: "segstreamTests", dependencies: ["SegMedia"]),
    ]
)
