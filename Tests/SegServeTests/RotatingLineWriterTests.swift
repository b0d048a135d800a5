import Foundation
import Testing
@testable import SegServe

@Suite("RotatingLineWriter: frames.jsonl rotated by size, whole lines only")
struct RotatingLineWriterTests {
    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-rotate-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test("rotates before a line would pass the size; keeps `keep` old files, the oldest dropped")
    func rotation() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cam/frames.jsonl"  // the folder is created
        let writer = try RotatingLineWriter(path: path, rotateSize: 20, keep: 2)
        for line in ["line-0000", "line-0001", "line-0002", "line-0003", "line-0004", "line-0005", "line-0006"] {
            try writer.write(line: line)  // 10 bytes each with the newline: two per file
        }
        #expect(read(path) == "line-0006\n")
        #expect(read(path + ".1") == "line-0004\nline-0005\n")
        #expect(read(path + ".2") == "line-0002\nline-0003\n")
        #expect(read(path + ".3") == nil)  // line-0000/0001 were dropped with the third rotation
        #expect(writer.rotatedFiles == [path + ".1", path + ".2"])
        #expect(writer.size == 10)
    }

    @Test("a line longer than the limit gets a file of its own; a trailing newline is not doubled")
    func longLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f.jsonl"
        let writer = try RotatingLineWriter(path: path, rotateSize: 8, keep: 3)
        try writer.write(line: "ab\n")
        try writer.write(line: String(repeating: "x", count: 30))
        try writer.write(line: "cd")
        #expect(read(path + ".2") == "ab\n")
        #expect(read(path + ".1") == String(repeating: "x", count: 30) + "\n")
        #expect(read(path) == "cd\n")
    }

    @Test("reopening appends, and the existing bytes count towards rotation")
    func reopen() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f.jsonl"
        do {
            let first = try RotatingLineWriter(path: path, rotateSize: 12, keep: 1)
            try first.write(line: "12345")
        }
        let second = try RotatingLineWriter(path: path, rotateSize: 12, keep: 1)
        #expect(second.size == 6)
        try second.write(line: "abcde")
        #expect(read(path) == "12345\nabcde\n")
        try second.write(line: "z")
        #expect(read(path + ".1") == "12345\nabcde\n" && read(path) == "z\n")
    }

    @Test("an unwritable place is an error naming the path")
    func failure() {
        let error = #expect(throws: ServeIOError.self) {
            try RotatingLineWriter(path: "/proc/segserve-no/frames.jsonl", rotateSize: 100, keep: 1)
        }
        #expect(error?.path == "/proc/segserve-no")
        #expect(error?.operation == "mkdir")
    }
}
