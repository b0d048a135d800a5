import ArgumentParser

/// The one executable: each subcommand is a thin layer over the library modules.
@main
struct SegStream: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segstream",
        abstract: "Real-time semantic segmentation of street video (SFNet) on the CPU.",
        discussion: """
            Exit codes follow sysexits: 64 usage, 65 bad data, 66 no input, 69 unavailable, 70 internal, \
            74 I/O, 78 configuration.
            """,
        version: "0.1.0",
        subcommands: [Run.self, Infer.self, Quantize.self])
}
