import ArgumentParser
import Foundation
import SegEngine
import SegMedia

/// sysexits(3) codes: every failure a user can cause maps to one of them.
enum SysExit: Int32 {
    case usage = 64
    case dataError = 65
    case noInput = 66
    case unavailable = 69
    case software = 70
    case ioError = 74
    case config = 78
}

/// An error that knows its sysexits code; its description is the one-line message.
protocol ExitClassified: Error, CustomStringConvertible {
    var sysexit: SysExit { get }
}

/// A failure of the CLI itself (bad combination of options, unreadable directory, …).
struct CLIError: ExitClassified {
    let description: String
    let sysexit: SysExit
    init(_ message: String, _ code: SysExit) {
        description = message
        sysexit = code
    }
}

/// Prints `segstream: message` on stderr and exits with the error's sysexits code; never a stack trace.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        let (message, code) = classify(error)
        // The last line of defence: whatever built the message, it prints as one line without raw escapes.
        FileHandle.standardError.write(Data("segstream: \(MessageText.escaped(message, limit: 1000))\n".utf8))
        throw ExitCode(code)
    }
}

func classify(_ error: Error) -> (String, Int32) {
    if let e = error as? ExitClassified { return (e.description, e.sysexit.rawValue) }
    if let e = error as? MediaError { return (e.description, e.exitCode) }
    return ("\(error)", SysExit.software.rawValue)
}
