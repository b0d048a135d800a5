import Foundation
import Logging

/// A swift-log handler writing one line per message to stderr (or an injected writer).
///
/// - Under systemd (`JOURNAL_STREAM` set and naming stderr's device and inode, sd-daemon(3)): `<N>label: message
///   key=value`, where `<N>` is the syslog priority journald files the line under, and no timestamp (journald has
///   its own).
/// - Otherwise: `2026-12-02T11:48:00.123Z warning label: message key=value`.
///
/// Every URL in the message and in metadata values is redacted (``Redaction``); a newline in a message becomes
/// `\n` so one message is one journal entry.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public let label: String
    /// Write `<N>` priority prefixes and no timestamps.
    public let journal: Bool
    private let write: @Sendable (String) -> Void

    public init(label: String, journal: Bool, metadataProvider: Logger.MetadataProvider? = nil,
                write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.journal = journal
        self.metadataProvider = metadataProvider
        self.write = write
    }

    /// Writes to stderr; journal format when `environment` says stderr is connected to the journal.
    public static func standardError(label: String,
                                     environment: [String: String] = ProcessInfo.processInfo.environment)
        -> JournalLogHandler
    {
        JournalLogHandler(label: label, journal: stderrIsJournal(environment: environment)) { line in
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// sd-daemon(3): `JOURNAL_STREAM` is `DEVICE:INODE` of the stream systemd connected; stderr is the journal only
    /// if it is still that stream (a user may have redirected it in a wrapper).
    public static func stderrIsJournal(environment: [String: String], fd: Int32 = 2) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }

    /// syslog priorities (sd-daemon(3) `SD_*` prefixes): swift-log's levels map one to one but for trace, which
    /// has no lower priority than debug.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        write(format(level: event.level, message: event.message.description, metadata: merged, date: Date()))
    }

    /// The line for one message (newline-terminated).
    public func format(level: Logger.Level, message: String, metadata: Logger.Metadata, date: Date) -> String {
        var line = journal ? "<\(Self.priority(level))>" : "\(Self.timestamp(date)) \(level) "
        line += "\(label): \(Self.clean(message))"
        for key in metadata.keys.sorted() {
            line += " \(key)=\(Self.clean("\(metadata[key]!)"))"
        }
        return line + "\n"
    }

    static func clean(_ text: String) -> String {
        Redaction.redactURLs(in: text).replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
